// The DNS-01 publisher end to end against the testbed's BIND: RFC2136 writes,
// propagation checked on BIND (DNS_RESOLVERS), CNAME delegation of
// _acme-challenge into validation.test. Zones z55, z56, validation.test.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { nsupdate, queryTxt } from '../../testbed/dns.js';
import type { Settings } from '../../../src/config/settings.js';
import { createChallengePublisher, createDnsProvider, DnsPropagationError, type DnsProvider } from '../../../src/dns/index.js';
import { withWrongTxtValues } from '../../dns/faulty.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const run = randomBytes(3).toString('hex');

const dnsSettings: Settings['dns'] = {
  provider: 'rfc2136',
  rfc2136: { nameserver: `${tb.dns.host}:${tb.dns.port}`, tsigKey: tb.dns.tsigKeyName, tsigSecret: tb.dns.tsigSecret, tsigAlgorithm: 'hmac-sha256.' },
  cloudflare: { apiToken: undefined, apiUrl: 'https://api.cloudflare.com/client/v4' },
  pdns: { apiUrl: undefined, apiKey: undefined, serverName: 'localhost' },
  resolvers: [`${tb.dns.host}:${tb.dns.port}`],
  propagationTimeoutSeconds: 10,
  propagationCheck: true,
};
const aws: Settings['aws'] = { region: 'us-east-1', accessKeyId: undefined, secretAccessKey: undefined, route53Endpoint: undefined, secretsManagerEndpoint: undefined };

const provider = createDnsProvider({ ...dnsSettings, aws }, logger);
const publisher = createChallengePublisher(dnsSettings, provider, logger);
const delegatedTarget = `${run}.validation.test`;

describe('DNS-01 publisher over RFC2136 and BIND', () => {
  afterAll(async () => {
    await nsupdate(tb.dns, [`update delete _acme-challenge.z56.test CNAME`], 'z56.test');
  });

  it('publishes both values in one record set, visible on BIND when publish returns, and cleans up', async () => {
    const started = performance.now();
    const published = await publisher.publish('z55.test', 'z55.test', ['apex-digest', 'wildcard-digest']);
    const elapsed = performance.now() - started;
    expect(published).toEqual({ fqdn: '_acme-challenge.z55.test', zone: 'z55.test', values: ['apex-digest', 'wildcard-digest'] });
    expect((await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).sort()).toEqual(['apex-digest', 'wildcard-digest']);
    expect(elapsed).toBeLessThan(1_000);
    await publisher.cleanup(published);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).toEqual([]);
    await publisher.cleanup(published); // already gone: no error
  });

  it('clearStale leaves a value it cannot prove is its own, and removes its own leftovers of a failed cleanup', async () => {
    // Left by someone else, or by a crashed earlier process: not provably ours, so it stays.
    await nsupdate(tb.dns, ['update add _acme-challenge.z55.test. 60 TXT "stale-from-crash"'], 'z55.test');
    await publisher.clearStale('z55.test', 'z55.test');
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).toEqual(['stale-from-crash']);

    // Our own value whose removal failed once is remembered and removed by the next clearStale.
    let failRemoval = true;
    const flaky: DnsProvider = {
      name: provider.name,
      addTxt: (zone, fqdn, values) => provider.addTxt(zone, fqdn, values),
      removeTxt: async (zone, fqdn, values) => {
        if (failRemoval) {
          failRemoval = false;
          throw new Error('DNS provider unavailable');
        }
        await provider.removeTxt(zone, fqdn, values);
      },
      listTxt: (zone, fqdn) => provider.listTxt(zone, fqdn),
      findZone: (fqdn) => provider.findZone(fqdn),
    };
    const withFlaky = createChallengePublisher(dnsSettings, flaky, logger);
    const published = await withFlaky.publish('z55.test', 'z55.test', ['ours-left-behind']);
    await expect(withFlaky.cleanup(published)).rejects.toThrow('DNS provider unavailable');
    expect((await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).sort()).toEqual(['ours-left-behind', 'stale-from-crash']);
    await withFlaky.clearStale('z55.test', 'z55.test');
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).toEqual(['stale-from-crash']);
    await nsupdate(tb.dns, ['update delete _acme-challenge.z55.test. TXT "stale-from-crash"'], 'z55.test');
  });

  it('publishes beside a foreign value and cleans up only its own', async () => {
    await nsupdate(tb.dns, ['update add _acme-challenge.z55.test. 300 TXT "other-client-token"'], 'z55.test');
    const published = await publisher.publish('z55.test', 'z55.test', ['apex-digest', 'wildcard-digest']);
    expect((await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).sort()).toEqual(['apex-digest', 'other-client-token', 'wildcard-digest']);
    await publisher.cleanup(published);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).toEqual(['other-client-token']);
    await nsupdate(tb.dns, ['update delete _acme-challenge.z55.test. TXT "other-client-token"'], 'z55.test');
  });

  it('follows a CNAME into validation.test and writes there', async () => {
    await nsupdate(tb.dns, [`update add _acme-challenge.z56.test. 60 CNAME ${delegatedTarget}.`], 'z56.test');
    await publisher.clearStale('z56.test', 'z56.test');
    const published = await publisher.publish('z56.test', 'z56.test', ['delegated-1', 'delegated-2']);
    expect(published).toEqual({ fqdn: delegatedTarget, zone: 'validation.test', values: ['delegated-1', 'delegated-2'] });
    expect((await queryTxt(tb.dns.host, tb.dns.port, delegatedTarget)).sort()).toEqual(['delegated-1', 'delegated-2']);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z56.test')).toEqual([]); // only the CNAME lives there
    await publisher.cleanup(published);
    expect(await queryTxt(tb.dns.host, tb.dns.port, delegatedTarget)).toEqual([]);
  });

  it('reports values that never become visible, naming them, and removes what it wrote', async () => {
    const faulty = withWrongTxtValues(provider);
    const strict = createChallengePublisher({ ...dnsSettings, propagationTimeoutSeconds: 1 }, faulty, logger);
    const error = await strict.publish('z55.test', 'z55.test', ['expected-digest']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsPropagationError);
    expect((error as Error).message).toContain('_acme-challenge.z55.test');
    expect((error as Error).message).toContain('"expected-digest"');
    expect((error as Error).message).toContain(`${tb.dns.host}:${tb.dns.port}`);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).toEqual([]);
  });
});
