// A DnsProvider decorator that publishes the wrong TXT values: every value is
// replaced by a different, well-formed digest. Used by an end-to-end test to
// prove that the CA's rejection of the challenge is reported as a failure.
//
// NB: the propagation check waits for the *expected* values, which never appear;
// with it on, publish fails first with DnsPropagationError. To reach the CA, build
// the publisher with `propagationCheck: false` (DNS_PROPAGATION_CHECK=false).
import { createHash } from 'node:crypto';
import type { DnsProvider } from '../../src/dns/provider.js';

/** A base64url SHA-256 digest, like a real key-authorisation digest, but of the wrong input. */
export function wrongValue(value: string): string {
  return createHash('sha256').update(`not-${value}`).digest('base64url');
}

export class FaultyDnsProvider implements DnsProvider {
  readonly name: string;
  /** The values callers asked for, by fqdn (lower case). */
  readonly requested = new Map<string, string[]>();

  constructor(private readonly inner: DnsProvider) {
    this.name = `faulty(${inner.name})`;
  }

  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    this.requested.set(fqdn.toLowerCase(), values);
    await this.inner.addTxt(zone, fqdn, values.map(wrongValue));
  }

  /** Removes what addTxt really wrote for these values. */
  removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    return this.inner.removeTxt(zone, fqdn, values.map(wrongValue));
  }

  listTxt(zone: string, fqdn: string): Promise<string[]> {
    return this.inner.listTxt(zone, fqdn);
  }

  findZone(fqdn: string): Promise<string | undefined> {
    return this.inner.findZone(fqdn);
  }
}

/** Wraps a provider so that it publishes wrong TXT values. */
export function withWrongTxtValues(provider: DnsProvider): FaultyDnsProvider {
  return new FaultyDnsProvider(provider);
}
