// The DNS-01 publisher end to end against the testbed's BIND: RFC2136 writes,
// propagation checked on BIND (DNS_RESOLVERS), CNAME delegation of
// _acme-challenge into validation.test. Zones z55, z56, validation.test.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { nsupdate, queryTxt } from '../../testbed/dns.js';
import type { Settings } from '../../../src/config/settings.js';
import { createChallengePublisher, createDnsProvider, DnsPropagationError } from '../../../src/dns/index.js';
import { withWrongTxtValues } from '../../dns/faulty.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const run = randomBytes(3).toString('hex');

const dnsSettings: Settings['dns'] = {
  provider: 'rfc2136',
  rfc2136: { nameserver: `${tb.dns.host}:${tb.dns.port}`, tsigKey: tb.dns.tsigKeyName, tsigSecret: tb.dns.tsigSecret, tsigAlgorithm: 'hmac-sha256.' },
  cloudflare: { apiToken: undefined, apiUrl: 'https://api.cloudflare.com/client/v4' },
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

  it('clears stale values left by a crash', async () => {
    await nsupdate(tb.dns, ['update add _acme-challenge.z55.test. 60 TXT "stale-from-crash"'], 'z55.test');
    await publisher.clearStale('z55.test', 'z55.test');
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z55.test')).toEqual([]);
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
