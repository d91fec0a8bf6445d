/**
 * DNS lookups made to see what the CA will see: which servers to ask about a
 * name (the configured DNS_RESOLVERS, else the zone's authoritative
 * nameservers), its TXT values on one server, and where its CNAME chain ends.
 *
 * Queries go to one server at a time with dns-packet, never through a cache,
 * so that polling sees changes as soon as the server has them.
 */
import { promises as dns } from 'node:dns';
import type { Logger } from '../logger.js';
import { DnsProviderError } from './provider.js';
import { ancestorsOf, formatServer, normalizeName, query, txtValuesAt, type DnsServer } from './wire.js';

export interface DnsLookupConfig {
  /** DNS_RESOLVERS; empty means "the authoritative nameservers of the name's zone". */
  resolvers: DnsServer[];
  /** Timeout of one query. Default 2 s. */
  queryTimeoutMs?: number;
}

/** Finds the authoritative nameservers' addresses for a name (NS lookup, then A/AAAA). */
export type AuthoritativeFinder = (name: string) => Promise<DnsServer[]>;

export class DnsLookup {
  private readonly queryTimeoutMs: number;
  private readonly findAuthoritative: AuthoritativeFinder;

  constructor(
    private readonly config: DnsLookupConfig,
    private readonly logger: Logger,
    deps: { findAuthoritative?: AuthoritativeFinder } = {},
  ) {
    this.queryTimeoutMs = config.queryTimeoutMs ?? 2_000;
    this.findAuthoritative = deps.findAuthoritative ?? ((name) => authoritativeServers(name, this.queryTimeoutMs));
  }

  /** True when DNS_RESOLVERS were given. */
  get usesResolvers(): boolean {
    return this.config.resolvers.length > 0;
  }

  async serversFor(name: string): Promise<DnsServer[]> {
    if (this.usesResolvers) return this.config.resolvers;
    const servers = await this.findAuthoritative(name);
    if (servers.length === 0) throw new DnsProviderError(`No authoritative nameserver found for ${name}`);
    this.logger.debug({ name, servers: servers.map(formatServer) }, 'authoritative nameservers');
    return servers;
  }

  /** TXT values at `name` on `server`; [] for NXDOMAIN and NODATA; throws on SERVFAIL, REFUSED, timeouts. */
  async txt(server: DnsServer, name: string, timeoutMs = this.queryTimeoutMs): Promise<string[]> {
    const response = await query(server, name, 'TXT', { timeoutMs });
    if (response.rcode === 'NXDOMAIN') return [];
    if (response.rcode !== 'NOERROR') throw new Error(`${formatServer(server)} answered ${response.rcode}`);
    return txtValuesAt(response.packet.answers, name);
  }

  /** The CNAME target of `name`, or undefined when it is not an alias. Asks each server until one answers. */
  async cname(name: string): Promise<string | undefined> {
    const servers = await this.serversFor(name);
    const failures: string[] = [];
    for (const server of servers) {
      try {
        const response = await query(server, name, 'CNAME', { timeoutMs: this.queryTimeoutMs });
        if (response.rcode === 'NXDOMAIN') return undefined;
        if (response.rcode !== 'NOERROR') throw new Error(`answered ${response.rcode}`);
        const wanted = normalizeName(name);
        for (const a of response.packet.answers ?? []) {
          if (a.type === 'CNAME' && normalizeName(a.name) === wanted) return normalizeName(a.data);
        }
        return undefined;
      } catch (error) {
        failures.push(`${formatServer(server)}: ${(error as Error).message}`);
      }
    }
    throw new DnsProviderError(`Could not look up the CNAME of ${name}: ${failures.join('; ')}`);
  }

  /** Follows the CNAME chain from `name` to the name that holds the records (at most `maxHops` aliases). */
  async resolveAlias(name: string, maxHops = 10): Promise<string> {
    const chain = [normalizeName(name)];
    for (let hop = 0; hop <= maxHops; hop++) {
      const current = chain[chain.length - 1] ?? '';
      const target = await this.cname(current);
      if (target === undefined) return current;
      if (chain.includes(target)) throw new DnsProviderError(`CNAME loop: ${[...chain, target].join(' -> ')}`);
      chain.push(target);
    }
    throw new DnsProviderError(`CNAME chain from ${name} is longer than ${maxHops} hops: ${chain.join(' -> ')}`);
  }
}

/**
 * The zone's authoritative nameservers, through the system's resolver: the
 * closest ancestor of `name` with NS records, then the addresses of those hosts.
 */
export async function authoritativeServers(name: string, timeoutMs: number): Promise<DnsServer[]> {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
  for (const candidate of ancestorsOf(name)) {
    let hosts: string[];
    try {
      hosts = await resolver.resolveNs(candidate);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === dns.NODATA || code === dns.NOTFOUND) continue;
      throw new DnsProviderError(`NS lookup for ${candidate} failed: ${(error as Error).message}`, { cause: error });
    }
    if (hosts.length === 0) continue;
    const addresses = await Promise.all(
      hosts.flatMap((host) => [resolver.resolve4(host).catch(() => []), resolver.resolve6(host).catch(() => [])]),
    );
    return [...new Set(addresses.flat())].map((host) => ({ host, port: 53 }));
  }
  return [];
}
