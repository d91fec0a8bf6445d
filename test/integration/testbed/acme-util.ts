// Shared bits for the testbed smoke tests that drive acme-client directly.
import acme from 'acme-client';

interface AcmeAxiosDefaults {
  acmeSettings?: { retryMaxAttempts: number; retryDefaultDelay: number };
}

/** acme-client's shared axios instance retries 5xx/429 5 times with 5 s, 10 s, ... waits: keep that short in tests. */
export function quietAcmeClient(): void {
  acme.setLogger(() => undefined);
  const defaults = acme.axios.defaults as unknown as AcmeAxiosDefaults;
  if (defaults.acmeSettings) {
    defaults.acmeSettings.retryMaxAttempts = 2;
    defaults.acmeSettings.retryDefaultDelay = 1;
  }
}

export { acme };
