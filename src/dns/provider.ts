/**
 * A DNS provider publishes and removes the TXT records of DNS-01 challenges.
 *
 * Contract (every implementation passes test/dns/contract.ts):
 * - `zone` is the provider's zone handle as stored in `domains.zone_id`: a Route53
 *   hosted-zone id, a Cloudflare zone id, an RFC2136 or PowerDNS zone name.
 * - `fqdn` is a fully qualified record name without the trailing dot, e.g.
 *   `_acme-challenge.example.com`.
 * - `addTxt` adds `values` to the TXT values at `fqdn` (one record set, or one
 *   record per value where the provider keeps them so). Values already there stay
 *   once; every other TXT value at `fqdn` (another client's challenge, a
 *   verification token) is left exactly as it is. It is idempotent.
 * - `removeTxt` removes exactly `values` from `fqdn` and leaves every other TXT
 *   value there. Removing values that are not there is not an error.
 * - Both are safe against a concurrent writer at the same name (another AutoTLS
 *   domain delegated to the same CNAME target, another ACME client): neither
 *   call may lose a value it was not asked to remove.
 * - `listTxt` returns the TXT values the provider currently holds at `fqdn`
 *   (from its API, not from DNS), [] when there are none.
 * - `findZone` returns the zone handle of the zone that contains `fqdn`, or
 *   undefined when the provider manages no such zone (used for CNAME delegation).
 * - `verifyAccess` (optional) proves, without writing, that the configured
 *   credentials may update `zone` (RFC2136: a TSIG-signed query whose answer must be
 *   signed back). Providers without it are checked with `listTxt`, which already
 *   goes through their authenticated API. Used by `process --dry-run`.
 * - Implementations are safe for concurrent use, put a timeout on every call and
 *   retry only transient failures, a bounded number of times.
 * - Errors are thrown as `DnsProviderError`, with a message safe to log (no secrets).
 */
export interface DnsProvider {
  readonly name: string;
  addTxt(zone: string, fqdn: string, values: string[]): Promise<void>;
  removeTxt(zone: string, fqdn: string, values: string[]): Promise<void>;
  listTxt(zone: string, fqdn: string): Promise<string[]>;
  findZone(fqdn: string): Promise<string | undefined>;
  verifyAccess?(zone: string): Promise<void>;
}

export class DnsProviderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DnsProviderError';
  }
}
