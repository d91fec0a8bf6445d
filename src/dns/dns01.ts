/**
 * The ChallengePublisher on top of any DnsProvider: CNAME delegation of
 * `_acme-challenge.<domain>`, one record set with every value, and a wait
 * (polling, no fixed sleep) until the values are visible.
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

export class Dns01Publisher implements ChallengePublisher {
  private readonly maxCnameHops: number;

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
    const target = await this.target(domain, zone);
    // removeTxt of a record set that does not exist is a no-op for every provider.
    await this.provider.removeTxt(target.zone, target.fqdn);
    this.logger.debug({ domain, fqdn: target.fqdn }, 'cleared any stale _acme-challenge TXT record');
  }

  async publish(domain: string, zone: string, values: string[]): Promise<PublishedChallenge> {
    if (values.length === 0) throw new DnsProviderError(`No challenge values to publish for ${domain}`);
    const target = await this.target(domain, zone);
    const started = performance.now();
    await this.provider.setTxt(target.zone, target.fqdn, values);
    const written = performance.now();
    try {
      await this.propagation.waitForTxt(target.fqdn, values);
    } catch (error) {
      // Leave nothing behind: the caller only cleans up what publish returned.
      await this.provider.removeTxt(target.zone, target.fqdn).catch((cleanupError: unknown) =>
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
    await this.provider.removeTxt(published.zone, published.fqdn);
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
