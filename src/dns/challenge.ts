/**
 * Publishing DNS-01 challenge values for a domain, on top of a DnsProvider.
 *
 * The publisher owns everything between "these are the key authorisation
 * digests" and "the CA can see them": CNAME delegation of `_acme-challenge`,
 * clearing stale values, writing one record set, and waiting (without fixed
 * sleeps) until the values are visible on the resolvers or authoritative
 * nameservers.
 */
export interface PublishedChallenge {
  /** The record name actually written (the CNAME target when delegated). */
  fqdn: string;
  /** The provider zone the record was written in. */
  zone: string;
  values: string[];
}

export interface ChallengePublisher {
  /** Removes any `_acme-challenge` TXT record left for `domain` (e.g. by a crash). */
  clearStale(domain: string, zone: string): Promise<void>;
  /** Writes `values` at `_acme-challenge.<domain>` (or its CNAME target) and waits until visible. */
  publish(domain: string, zone: string, values: string[]): Promise<PublishedChallenge>;
  /** Removes what `publish` wrote. Never throws for a record that is already gone. */
  cleanup(published: PublishedChallenge): Promise<void>;
}
