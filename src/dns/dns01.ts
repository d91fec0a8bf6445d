/**
 * The ChallengePublisher on top of any DnsProvider: CNAME delegation of
 * `_acme-challenge.<domain>`, our values added beside whatever else is there
 * (and only ours removed again), and a wait (polling, no fixed sleep) until
 * the values are visible.
 *
 * Which values are ours: the ones `publish` was given. A value whose removal
 * failed is remembered (in this process) and removed by the next `clearStale`
 * of that domain. Nothing else is ever removed: a value we cannot prove is ours
 * may be another client's validation in progress, and losing it costs that
 * client a failed authorisation (5 per name per hour at Let's Encrypt).
 *
 * Delegation works as in certbot and lego: when `_acme-challenge.<domain>` is a
 * CNAME (chains followed up to 10 hops), the TXT record is written at the end
 * of the chain, in the zone the provider reports for that name.
 */
import type { Logger } from '../logger.js';
import type { ChallengePublisher, PublishedChallenge } from './challenge.js';
import type { DnsLookup } from './lookup.js';
import type { PropagationChecker } from './propagation.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { normalizeName } from './wire.js';

export interface Dns01PublisherOptions {
  /** Longest CNAME chain followed. Default 10. */
  maxCnameHops?: number;
}

interface Target {
  fqdn: string;
  zone: string;
}

export function challengeName(domain: string): string {
  return `_acme-challenge.${normalizeName(domain).replace(/^\*\./, '')}`;
}

function leftoverKey(target: Target): string {
  return `${target.zone}|${target.fqdn}`;
}

export class Dns01Publisher implements ChallengePublisher {
  private readonly maxCnameHops: number;
  /** Values we added and failed to remove, by `zone|fqdn`. */
  private readonly leftovers = new Map<string, Set<string>>();

  constructor(
    private readonly provider: DnsProvider,
    private readonly lookup: DnsLookup,
    private readonly propagation: PropagationChecker,
    private readonly logger: Logger,
    options: Dns01PublisherOptions = {},
  ) {
    this.maxCnameHops = options.maxCnameHops ?? 10;
  }

  async clearStale(domain: string, zone: string): Promise<void> {
    if (this.leftovers.size === 0) return;
    const target = await this.target(domain, zone);
    const key = leftoverKey(target);
    const leftover = this.leftovers.get(key);
    if (!leftover || leftover.size === 0) return;
    const values = [...leftover];
    await this.provider.removeTxt(target.zone, target.fqdn, values);
    this.leftovers.delete(key);
    this.logger.info({ domain, fqdn: target.fqdn, values: values.length }, 'removed challenge values left by an earlier failed cleanup');
  }

  async publish(domain: string, zone: string, values: string[]): Promise<PublishedChallenge> {
    if (values.length === 0) throw new DnsProviderError(`No challenge values to publish for ${domain}`);
    const target = await this.target(domain, zone);
    const started = performance.now();
    await this.provider.addTxt(target.zone, target.fqdn, values);
    const written = performance.now();
    try {
      await this.propagation.waitForTxt(target.fqdn, values);
    } catch (error) {
      // Leave nothing of ours behind: the caller only cleans up what publish returned.
      await this.removeOurs(target, values).catch((cleanupError: unknown) =>
        this.logger.warn({ fqdn: target.fqdn, err: (cleanupError as Error).message }, 'could not remove TXT after failed propagation'),
      );
      throw error;
    }
    this.logger.info(
      {
        domain,
        fqdn: target.fqdn,
        zone: target.zone,
        values: values.length,
        writeMs: Math.round(written - started),
        propagationMs: Math.round(performance.now() - written),
      },
      'DNS-01 challenge published',
    );
    return { fqdn: target.fqdn, zone: target.zone, values: [...values] };
  }

  async cleanup(published: PublishedChallenge): Promise<void> {
    await this.removeOurs(published, published.values);
  }

  /** Removes `values` at `target`; when that fails, remembers them for the next clearStale. */
  private async removeOurs(target: Target, values: string[]): Promise<void> {
    try {
      await this.provider.removeTxt(target.zone, target.fqdn, values);
    } catch (error) {
      const key = leftoverKey(target);
      const set = this.leftovers.get(key) ?? new Set<string>();
      for (const v of values) set.add(v);
      this.leftovers.set(key, set);
      throw error;
    }
  }

  /** Where the TXT record for `domain` lives: `_acme-challenge.<domain>`, or the end of its CNAME chain. */
  private async target(domain: string, zone: string): Promise<Target> {
    const name = challengeName(domain);
    const end = await this.lookup.resolveAlias(name, this.maxCnameHops);
    if (end === name) return { fqdn: name, zone };
    const targetZone = await this.provider.findZone(end);
    if (targetZone === undefined) {
      throw new DnsProviderError(
        `${name} is a CNAME to ${end}, but the ${this.provider.name} DNS provider manages no zone containing ${end}`,
      );
    }
    this.logger.debug({ domain, from: name, to: end, zone: targetZone }, '_acme-challenge is delegated by CNAME');
    return { fqdn: end, zone: targetZone };
  }
}
