/**
 * A secrets store keeps key material and the ACME account key.
 *
 * Contract (every implementation passes test/secrets/contract.ts):
 * - Names are slash-separated paths such as `pem-secret/example.com/private_key`.
 *   Names are validated by `assertSafeSecretName`; a name that could escape
 *   (`..`, absolute, empty segments, control characters) is rejected.
 * - `get` returns undefined when the secret does not exist; any other failure throws.
 * - `put` creates the secret or, when it exists, stores a new value; it is durable
 *   when it resolves (the file store writes atomically with mode 0600).
 * - Implementations are safe for concurrent use, and every call has a timeout
 *   and a bounded retry of transient failures.
 * - Errors are thrown as `SecretsStoreError` and never contain a secret value.
 */
export interface SecretsStore {
  readonly name: string;
  get(name: string): Promise<string | undefined>;
  put(name: string, value: string, tags?: Record<string, string>): Promise<void>;
  delete(name: string): Promise<void>;
}

export class SecretsStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretsStoreError';
  }
}

const SAFE_SEGMENT = /^[A-Za-z0-9._*+=@-]+$/;

/** The single place where secret names are checked before any store touches them. */
export function assertSafeSecretName(name: string): void {
  const segments = name.split('/');
  const ok =
    name.length > 0 &&
    name.length <= 512 &&
    segments.every((s) => s.length > 0 && s !== '.' && s !== '..' && SAFE_SEGMENT.test(s));
  if (!ok) throw new SecretsStoreError(`Invalid secret name ${JSON.stringify(name)}`);
}
