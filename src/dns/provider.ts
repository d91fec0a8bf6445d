/**
 * A DNS provider publishes and removes the TXT records of DNS-01 challenges.
 *
 * Contract (every implementation passes test/dns/contract.ts):
 * - `zone` is the provider's zone handle as stored in `domains.zone_id`: a Route53
 *   hosted-zone id, a Cloudflare zone id, or an RFC2136 zone name.
 * - `fqdn` is a fully qualified record name without the trailing dot, e.g.
 *   `_acme-challenge.example.com`.
 * - `setTxt` makes the record set at `fqdn` hold exactly `values` (one record set,
 *   all values), replacing whatever TXT values were there. It is idempotent.
 * - `removeTxt` deletes the whole TXT record set at `fqdn`. Removing a record set
 *   that does not exist is not an error.
 * - `listTxt` returns the TXT values the provider currently holds at `fqdn`
 *   (from its API, not from DNS), [] when there are none.
 * - `findZone` returns the zone handle of the zone that contains `fqdn`, or
 *   undefined when the provider manages no such zone (used for CNAME delegation).
 * - Implementations are safe for concurrent use, put a timeout on every call and
 *   retry only transient failures, a bounded number of times.
 * - Errors are thrown as `DnsProviderError`, with a message safe to log (no secrets).
 */
export interface DnsProvider {
  readonly name: string;
  setTxt(zone: string, fqdn: string, values: string[]): Promise<void>;
  removeTxt(zone: string, fqdn: string): Promise<void>;
  listTxt(zone: string, fqdn: string): Promise<string[]>;
  findZone(fqdn: string): Promise<string | undefined>;
}

export class DnsProviderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DnsProviderError';
  }
}
