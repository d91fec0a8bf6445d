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
  /**
   * Removes challenge values this publisher wrote for `domain` earlier and could
   * not remove then (a failed cleanup). Only values proven ours are removed:
   * other TXT values at the name, including those of a crashed earlier process,
   * are left (a CA accepts any matching value among several).
   */
  clearStale(domain: string, zone: string): Promise<void>;
  /** Adds `values` at `_acme-challenge.<domain>` (or its CNAME target), leaving other values, and waits until visible. */
  publish(domain: string, zone: string, values: string[]): Promise<PublishedChallenge>;
  /** Removes the values `publish` added, and only those. Never throws for values already gone. */
  cleanup(published: PublishedChallenge): Promise<void>;
}
