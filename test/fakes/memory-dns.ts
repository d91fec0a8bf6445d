/**
 * An in-memory DNS: the authoritative data the CA reads when it validates a
 * DNS-01 challenge, and a ChallengePublisher (src/dns/challenge.ts) that writes
 * into it.
 *
 * A name holds any number of TXT values, and values written by someone else
 * (another ACME client, a validation in progress elsewhere) live beside ours.
 * The publisher adds and removes only its own values, as lego does
 * (https://go-acme.github.io/lego/ — "the DNS provider adds the TXT record ...
 * and removes it in CleanUp"), and each value is owned by the domain that wrote
 * it, so domains sharing a CNAME target do not erase each other's values.
 * `_acme-challenge.<d>` may be a CNAME (followed up to 10 hops, like
 * Dns01Publisher and Let's Encrypt).
 */
import { DnsProviderError } from '../../src/dns/provider.js';
import type { ChallengePublisher, PublishedChallenge } from '../../src/dns/challenge.js';
import type { Clock } from '../../src/clock.js';
import { drawFault, noFaults, type FaultSwitches } from './random.js';

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** What the CA needs from DNS: the TXT values visible at a name, CNAMEs followed. */
export interface TxtResolver {
  resolveTxt(name: string): string[];
}

interface TxtValue {
  value: string;
  /** `foreign`, or `autotls:<domain>` for values our publisher wrote. */
  owner: string;
}

export interface MemoryDnsOptions {
  clock: Clock;
  random?: () => number;
}

export class MemoryDns implements TxtResolver {
  private readonly txt = new Map<string, TxtValue[]>();
  private readonly cnames = new Map<string, string>();
  private readonly clock: Clock;
  private readonly random: () => number;
  /** Publishing fails (as a provider error would) per these switches. */
  readonly faults: FaultSwitches = noFaults();
  /** Publishes that failed because of a fault. */
  failedPublishes = 0;
  /** Values written by the publisher, in total. */
  writes = 0;

  constructor(options: MemoryDnsOptions) {
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
  }

  /** A value someone other than AutoTLS keeps at `name`. */
  addForeignTxt(name: string, value: string): void {
    this.add(name, value, 'foreign');
  }

  setCname(name: string, target: string): void {
    this.cnames.set(norm(name), norm(target));
  }

  /** The values held at exactly `name` (no CNAME following). */
  txtAt(name: string): string[] {
    return (this.txt.get(norm(name)) ?? []).map((v) => v.value);
  }

  resolveTxt(name: string): string[] {
    return this.txtAt(this.follow(name));
  }

  /** Where the CNAME chain from `name` ends (the name itself when it is no alias). */
  follow(name: string): string {
    let current = norm(name);
    for (let hop = 0; hop < 10; hop++) {
      const next = this.cnames.get(current);
      if (!next) return current;
      current = next;
    }
    throw new DnsProviderError(`CNAME chain from ${name} is longer than 10 hops`);
  }

  /** A ChallengePublisher writing into this DNS. */
  publisher(): ChallengePublisher {
    return {
      clearStale: async (domain) => {
        const fqdn = this.follow(challengeName(domain));
        const owner = ownerOf(domain);
        this.txt.set(fqdn, (this.txt.get(fqdn) ?? []).filter((v) => v.owner !== owner));
      },
      publish: async (domain, zone, values): Promise<PublishedChallenge> => {
        if (values.length === 0) throw new DnsProviderError(`No challenge values to publish for ${domain}`);
        const fqdn = this.follow(challengeName(domain));
        const fault = drawFault(this.faults, this.clock.now(), this.random);
        if (fault) {
          this.failedPublishes++;
          throw new DnsProviderError(`memory DNS: writing TXT at ${fqdn} failed (${fault === 'outage' ? 'provider outage' : 'injected fault'})`);
        }
        for (const value of values) this.add(fqdn, value, ownerOf(domain));
        this.writes += values.length;
        return { fqdn, zone, values: [...values] };
      },
      cleanup: async (published) => {
        const fqdn = norm(published.fqdn);
        const left = [...(this.txt.get(fqdn) ?? [])];
        for (const value of published.values) {
          const i = left.findIndex((v) => v.value === value && v.owner !== 'foreign');
          if (i >= 0) left.splice(i, 1);
        }
        this.txt.set(fqdn, left);
      },
    };
  }

  private add(name: string, value: string, owner: string): void {
    const fqdn = norm(name);
    const list = this.txt.get(fqdn) ?? [];
    list.push({ value, owner });
    this.txt.set(fqdn, list);
  }
}

export function challengeName(domain: string): string {
  return `_acme-challenge.${norm(domain).replace(/^\*\./, '')}`;
}

function ownerOf(domain: string): string {
  return `autotls:${norm(domain).replace(/^\*\./, '')}`;
}
