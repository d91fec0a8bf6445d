/**
 * DNS lookups made to see what the CA will see.
 *
 * As in lego: resolvers (DNS_RESOLVERS, else the system's) are used only to
 * find things out — where a CNAME chain ends, which nameservers serve a zone
 * and their addresses. The TXT values themselves are then asked of those
 * authoritative nameservers, never of a resolver: a caching resolver asked
 * about `_acme-challenge.<domain>` before the record exists keeps the "no such
 * name" answer for the zone's negative TTL (900 s on Route 53), longer than the
 * propagation wait (issue 14, item 6).
 *
 * A resolver that answers authoritatively (AA) for the zone is itself one of
 * its servers (a hidden primary, a split-horizon view, the test bed's BIND): it
 * is asked directly instead of the zone's NS set.
 *
 * Queries go to one server at a time with dns-packet, so polling sees changes
 * as soon as the server has them.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Answer } from 'dns-packet';
import type { Logger } from '../logger.js';
import { DnsProviderError } from './provider.js';
import { ancestorsOf, formatServer, normalizeName, parseServer, query, txtValuesAt, type DnsResponse, type DnsServer } from './wire.js';

export interface DnsLookupConfig {
  /** DNS_RESOLVERS; empty means the system's resolvers. */
  resolvers: DnsServer[];
  /** Timeout of one query. Default 2 s. */
  queryTimeoutMs?: number;
  /** Port the authoritative nameservers are asked on. 53; a test points it at its own BIND. */
  nameserverPort?: number;
  /** The resolvers used when DNS_RESOLVERS is empty. Default: the system's (`dns.getServers()`). */
  systemResolvers?: () => DnsServer[];
}

/** One authoritative nameserver of a zone and every address it has (A and AAAA). */
export interface Nameserver {
  name: string;
  addresses: DnsServer[];
}

/** Finds the authoritative nameservers of the zone containing a name. */
export type AuthoritativeFinder = (name: string) => Promise<Nameserver[]>;

function systemResolvers(): DnsServer[] {
  return dns.getServers().map((s) => parseServer(s));
}

export class DnsLookup {
  private readonly queryTimeoutMs: number;
  private readonly nameserverPort: number;
  private readonly findAuthoritative: AuthoritativeFinder;

  constructor(
    private readonly config: DnsLookupConfig,
    private readonly logger: Logger,
    deps: { findAuthoritative?: AuthoritativeFinder } = {},
  ) {
    this.queryTimeoutMs = config.queryTimeoutMs ?? 2_000;
    this.nameserverPort = config.nameserverPort ?? 53;
    this.findAuthoritative = deps.findAuthoritative ?? ((name) => this.authoritativeNameservers(name));
  }

  /** DNS_RESOLVERS, else the system's resolvers: what is asked to find things out. */
  private resolvers(): DnsServer[] {
    if (this.config.resolvers.length > 0) return this.config.resolvers;
    const system = (this.config.systemResolvers ?? systemResolvers)();
    if (system.length === 0) throw new DnsProviderError('No DNS resolver configured (DNS_RESOLVERS) and none found in the system configuration');
    return system;
  }

  /** The authoritative nameservers of the zone that contains `name`, each with its addresses. */
  async serversFor(name: string): Promise<Nameserver[]> {
    const servers = await this.findAuthoritative(name);
    if (servers.length === 0) throw new DnsProviderError(`No authoritative nameserver found for ${name}`);
    this.logger.debug({ name, servers: servers.map((s) => `${s.name} (${s.addresses.map(formatServer).join(', ')})`) }, 'authoritative nameservers');
    return servers;
  }

  /** TXT values at `name` on `server`; [] for NXDOMAIN and NODATA; throws on SERVFAIL, REFUSED, timeouts. */
  async txt(server: DnsServer, name: string, timeoutMs = this.queryTimeoutMs): Promise<string[]> {
    const response = await query(server, name, 'TXT', { timeoutMs });
    if (response.rcode === 'NXDOMAIN') return [];
    if (response.rcode !== 'NOERROR') throw new Error(`${formatServer(server)} answered ${response.rcode}`);
    return txtValuesAt(response.packet.answers, name);
  }

  /** The CNAME target of `name`, or undefined when it is not an alias. Asks the resolvers until one answers. */
  async cname(name: string): Promise<string | undefined> {
    const response = await this.ask(name, 'CNAME', `the CNAME of ${name}`);
    if (response.rcode === 'NXDOMAIN') return undefined;
    const wanted = normalizeName(name);
    for (const a of response.packet.answers ?? []) {
      if (a.type === 'CNAME' && normalizeName(a.name) === wanted) return normalizeName(a.data);
    }
    return undefined;
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

  /**
   * The closest ancestor of `name` with NS records, asked of every resolver.
   * Resolvers that answer it authoritatively are the zone's servers; otherwise
   * the NS hosts' addresses (A and AAAA, through the resolvers) on port 53.
   */
  private async authoritativeNameservers(name: string): Promise<Nameserver[]> {
    const resolvers = this.resolvers();
    for (const candidate of ancestorsOf(name)) {
      const answers = await Promise.all(
        resolvers.map(async (resolver) => {
          try {
            return { resolver, response: await query(resolver, candidate, 'NS', { timeoutMs: this.queryTimeoutMs }) };
          } catch (error) {
            return { resolver, error: error as Error };
          }
        }),
      );
      const answered = answers.filter((a): a is { resolver: DnsServer; response: DnsResponse } => a.response !== undefined);
      if (answered.length === 0) {
        const failures = answers.map((a) => `${formatServer(a.resolver)}: ${a.error?.message ?? 'no answer'}`).join('; ');
        throw new DnsProviderError(`NS lookup for ${candidate} failed: ${failures}`);
      }
      const withNs = answered.filter(({ response }) => response.rcode === 'NOERROR' && nsHosts(response, candidate).length > 0);
      if (withNs.length === 0) {
        const bad = answered.find(({ response }) => response.rcode !== 'NOERROR' && response.rcode !== 'NXDOMAIN');
        if (bad && answered.every(({ response }) => response.rcode !== 'NOERROR' && response.rcode !== 'NXDOMAIN')) {
          throw new DnsProviderError(`NS lookup for ${candidate} at ${formatServer(bad.resolver)} answered ${bad.response.rcode}`);
        }
        continue;
      }
      const authoritative = withNs.filter(({ response }) => response.authoritative);
      if (authoritative.length > 0) return authoritative.map(({ resolver }) => ({ name: formatServer(resolver), addresses: [resolver] }));
      const first = withNs[0];
      if (!first) continue;
      return Promise.all(nsHosts(first.response, candidate).map((host) => this.nameserver(host, first.response)));
    }
    return [];
  }

  /** A nameserver's addresses: glue from the NS answer, else A and AAAA through the resolvers. */
  private async nameserver(host: string, nsResponse: DnsResponse): Promise<Nameserver> {
    if (isIP(host) !== 0) return { name: host, addresses: [{ host, port: this.nameserverPort }] };
    const glue = (nsResponse.packet.additionals ?? []).flatMap((a) => (normalizeName(a.name) === host ? addressIn(a) : []));
    const looked = glue.length > 0 ? glue : await this.addressesOf(host);
    const unique = [...new Set(looked)];
    return { name: host, addresses: unique.map((address) => ({ host: address, port: this.nameserverPort })) };
  }

  private async addressesOf(host: string): Promise<string[]> {
    const results = await Promise.all(
      (['A', 'AAAA'] as const).map(async (type) => {
        try {
          const response = await this.ask(host, type, `the ${type} of ${host}`);
          return (response.packet.answers ?? []).flatMap((a) => (a.type === type ? addressIn(a) : []));
        } catch {
          return [];
        }
      }),
    );
    return results.flat();
  }

  /** One question to the resolvers, in order, until one answers NOERROR or NXDOMAIN. */
  private async ask(name: string, type: 'CNAME' | 'A' | 'AAAA', what: string): Promise<DnsResponse> {
    const failures: string[] = [];
    for (const resolver of this.resolvers()) {
      try {
        const response = await query(resolver, name, type, { timeoutMs: this.queryTimeoutMs });
        if (response.rcode === 'NOERROR' || response.rcode === 'NXDOMAIN') return response;
        failures.push(`${formatServer(resolver)}: answered ${response.rcode}`);
      } catch (error) {
        failures.push(`${formatServer(resolver)}: ${(error as Error).message}`);
      }
    }
    throw new DnsProviderError(`Could not look up ${what}: ${failures.join('; ')}`);
  }
}

/** The NS hosts of `zone` in an answer. */
function nsHosts(response: DnsResponse, zone: string): string[] {
  const wanted = normalizeName(zone);
  return (response.packet.answers ?? []).flatMap((a) => (a.type === 'NS' && normalizeName(a.name) === wanted ? [normalizeName(a.data)] : []));
}

function addressIn(a: Answer): string[] {
  return a.type === 'A' || a.type === 'AAAA' ? [a.data] : [];
}
