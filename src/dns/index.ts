/**
 * Builds the configured DNS provider and the challenge publisher. Called by the
 * composition root only; everything else receives the interfaces.
 */
import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';
import type { ChallengePublisher } from './challenge.js';
import { CloudflareProvider } from './cloudflare.js';
import { Dns01Publisher } from './dns01.js';
import { DnsLookup } from './lookup.js';
import { PdnsProvider } from './pdns.js';
import { PropagationChecker } from './propagation.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { Rfc2136Provider } from './rfc2136.js';
import { parseServer } from './wire.js';

export type { DnsProvider } from './provider.js';
export type { ChallengePublisher, PublishedChallenge } from './challenge.js';
export { DnsProviderError } from './provider.js';
export { DnsPropagationError } from './propagation.js';

/** The settings the DNS plugin needs: the `dns` part, plus `aws` for Route 53. */
export type DnsSettings = Settings['dns'] & { aws: Settings['aws'] };

/** Either the flat DNS settings or any object holding `dns` and `aws` (e.g. the whole Settings). */
export type DnsSettingsInput = DnsSettings | Pick<Settings, 'dns' | 'aws'>;

function flatten(settings: DnsSettingsInput): DnsSettings {
  return 'dns' in settings ? { ...settings.dns, aws: settings.aws } : settings;
}

function required(value: string | undefined, variable: string, provider: string): string {
  if (!value) throw new DnsProviderError(`DNS_PROVIDER=${provider} needs ${variable}`);
  return value;
}

export function createDnsProvider(settings: DnsSettingsInput, logger: Logger): DnsProvider {
  const s = flatten(settings);
  const log = logger.child({ component: 'dns', provider: s.provider });
  switch (s.provider) {
    case 'rfc2136':
      return new Rfc2136Provider(
        {
          nameserver: required(s.rfc2136.nameserver, 'RFC2136_NAMESERVER', s.provider),
          tsigKeyName: required(s.rfc2136.tsigKey, 'RFC2136_TSIG_KEY', s.provider),
          tsigSecret: required(s.rfc2136.tsigSecret, 'RFC2136_TSIG_SECRET', s.provider),
          tsigAlgorithm: s.rfc2136.tsigAlgorithm,
        },
        log,
      );
    case 'cloudflare':
      return new CloudflareProvider(
        { apiToken: required(s.cloudflare.apiToken, 'CLOUDFLARE_DNS_API_TOKEN', s.provider), apiUrl: s.cloudflare.apiUrl },
        log,
      );
    case 'pdns':
      return new PdnsProvider(
        {
          apiUrl: required(s.pdns.apiUrl, 'PDNS_API_URL', s.provider),
          apiKey: required(s.pdns.apiKey, 'PDNS_API_KEY', s.provider),
          serverName: s.pdns.serverName,
        },
        log,
      );
    case 'route53': {
      // The AWS SDK is loaded only by deployments that use Route53. Credentials per
      // hosted zone: src/aws/credentials.ts (default chain or keys with their
      // session token, AWS_ASSUME_ROLE_ARN, ROUTE53_ASSUME_ROLE_ARN).
      const aws = s.aws;
      return lazyDnsProvider('route53', async () => {
        const [{ Route53Provider }, { credentialSourceFor }] = await Promise.all([import('./route53.js'), import('../aws/credentials.js')]);
        const source = credentialSourceFor(aws);
        return new Route53Provider({ region: aws.region, endpoint: aws.route53Endpoint, credentials: (zone) => source.route53(zone) }, log);
      });
    }
    default: {
      const unknown: never = s.provider;
      throw new DnsProviderError(`Unknown DNS_PROVIDER "${String(unknown)}"`);
    }
  }
}

/** A provider whose implementation module is loaded on first use. */
function lazyDnsProvider(name: string, load: () => Promise<DnsProvider>): DnsProvider {
  let loaded: Promise<DnsProvider> | undefined;
  const get = (): Promise<DnsProvider> => (loaded ??= load());
  return {
    name,
    addTxt: async (zone, fqdn, values) => (await get()).addTxt(zone, fqdn, values),
    removeTxt: async (zone, fqdn, values) => (await get()).removeTxt(zone, fqdn, values),
    listTxt: async (zone, fqdn) => (await get()).listTxt(zone, fqdn),
    findZone: async (fqdn) => (await get()).findZone(fqdn),
  };
}

/**
 * The DNS-01 publisher over `provider`, checking propagation on the zone's
 * authoritative nameservers (found through DNS_RESOLVERS, else the system's
 * resolvers) unless DNS_PROPAGATION_CHECK is false.
 */
export function createChallengePublisher(
  settings: Settings['dns'] | Pick<Settings, 'dns'>,
  provider: DnsProvider,
  logger: Logger,
): ChallengePublisher {
  const s = 'dns' in settings ? settings.dns : settings;
  const log = logger.child({ component: 'dns01', provider: provider.name });
  let resolvers;
  try {
    resolvers = s.resolvers.map((r) => parseServer(r));
  } catch (error) {
    throw new DnsProviderError(`DNS_RESOLVERS: ${(error as Error).message}`);
  }
  const lookup = new DnsLookup({ resolvers }, log);
  const propagation = new PropagationChecker(
    { enabled: s.propagationCheck, timeoutMs: s.propagationTimeoutSeconds * 1000 },
    lookup,
    log,
  );
  return new Dns01Publisher(provider, lookup, propagation, log);
}
