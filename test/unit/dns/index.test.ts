import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Settings } from '../../../src/config/settings.js';
import { createChallengePublisher, createDnsProvider, type DnsSettings } from '../../../src/dns/index.js';
import { Dns01Publisher } from '../../../src/dns/dns01.js';
import { MemoryDnsProvider } from '../../dns/memory.js';

const logger = pino({ level: 'silent' });
const base: DnsSettings = {
  provider: 'route53',
  rfc2136: { nameserver: undefined, tsigKey: undefined, tsigSecret: undefined, tsigAlgorithm: 'hmac-sha256.' },
  cloudflare: { apiToken: undefined, apiUrl: 'https://api.cloudflare.com/client/v4' },
  pdns: { apiUrl: undefined, apiKey: undefined, serverName: 'localhost' },
  resolvers: [],
  propagationTimeoutSeconds: 120,
  propagationCheck: true,
  aws: { region: 'us-east-1', accessKeyId: undefined, secretAccessKey: undefined, route53Endpoint: 'http://127.0.0.1:1', secretsManagerEndpoint: undefined },
};

describe('createDnsProvider', () => {
  it('builds each provider from its settings', () => {
    expect(createDnsProvider(base, logger).name).toBe('route53');
    expect(
      createDnsProvider(
        { ...base, provider: 'rfc2136', rfc2136: { nameserver: '127.0.0.1:53', tsigKey: 'k', tsigSecret: 'c2VjcmV0', tsigAlgorithm: 'hmac-sha512.' } },
        logger,
      ).name,
    ).toBe('rfc2136');
    expect(createDnsProvider({ ...base, provider: 'cloudflare', cloudflare: { apiToken: 't0ken', apiUrl: 'http://127.0.0.1:1' } }, logger).name).toBe('cloudflare');
  });

  it('accepts the whole Settings object too (as the composition root passes it)', () => {
    const { aws, ...dns } = base;
    const settings = { dns, aws } as Pick<Settings, 'dns' | 'aws'>;
    expect(createDnsProvider(settings, logger).name).toBe('route53');
    expect(createChallengePublisher(settings, new MemoryDnsProvider([]), logger)).toBeInstanceOf(Dns01Publisher);
  });

  it('names the missing variable', () => {
    expect(() => createDnsProvider({ ...base, provider: 'rfc2136' }, logger)).toThrow('DNS_PROVIDER=rfc2136 needs RFC2136_NAMESERVER');
    expect(() => createDnsProvider({ ...base, provider: 'cloudflare' }, logger)).toThrow('DNS_PROVIDER=cloudflare needs CLOUDFLARE_DNS_API_TOKEN');
  });

  it('rejects a bad TSIG configuration without echoing the secret', () => {
    const secret = 'not*base64*secret';
    expect(() =>
      createDnsProvider({ ...base, provider: 'rfc2136', rfc2136: { nameserver: '127.0.0.1', tsigKey: 'k', tsigSecret: secret, tsigAlgorithm: 'hmac-sha256.' } }, logger),
    ).toThrow(/RFC2136 configuration: TSIG secret of key "k" is not valid base64/);
    expect(() =>
      createDnsProvider({ ...base, provider: 'rfc2136', rfc2136: { nameserver: '127.0.0.1', tsigKey: 'k', tsigSecret: 'c2VjcmV0', tsigAlgorithm: 'hmac-md5' } }, logger),
    ).toThrow(/Unsupported TSIG algorithm/);
  });

  it('rejects a malformed DNS_RESOLVERS entry', () => {
    expect(() => createChallengePublisher({ ...base, resolvers: ['127.0.0.1:notaport'] }, new MemoryDnsProvider([]), logger)).toThrow(/DNS_RESOLVERS/);
  });
});
