import { beforeAll, describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/certificates/keys.js';
import { deployToFastly } from '../../src/storage/fastly-deploy.js';
import { FastlyError } from '../../src/storage/fastly.js';
import { splitFullchain as splitChain } from '../../src/certificates/x509.js';

/** The leaf and intermediates in the form the bulk certificate API takes. */
function splitFullchain(fullchainPem: string): { certPem: string; intermediatesPem: string } {
  const { leafPem, intermediatesPem } = splitChain(fullchainPem);
  return { certPem: leafPem, intermediatesPem: intermediatesPem.join('') };
}
import type { IssuedCertificate } from '../../src/certificates/issuer.js';
import { createFakeWorld, type FakeWorld } from './world.js';

let world: FakeWorld;
const issued = new Map<string, IssuedCertificate>();

async function issue(domain: string): Promise<IssuedCertificate> {
  const keys = await newKeyAndCsr(domain, 'ec256');
  return world.ca.issue({ domain, zone: 'Z', keyType: 'ec256', keys }, { publisher: world.publisher });
}

beforeAll(async () => {
  world = createFakeWorld();
  for (const d of ['a.test', 'b.test']) issued.set(d, await issue(d));
});

describe('MemoryFastly', () => {
  it('takes a certificate only after its key, and serves it for the apex and the wildcard', async () => {
    const fastly = createFakeWorld().fastly;
    const a = issued.get('a.test')!;
    const { certPem, intermediatesPem } = splitFullchain(a.fullchainPem);
    await expect(fastly.createBulkCertificate(certPem, intermediatesPem, 'cfg')).rejects.toThrow(/No private key matching/);
    const deployed = await deployToFastly(fastly, { domain: 'a.test', privateKeyPem: a.privateKeyPem, fullchainPem: a.fullchainPem, configurationId: 'cfg' });
    expect(deployed.action).toBe('created');
    expect(fastly.servedCertificate('a.test')?.serial).toBe(a.serial);
    expect(fastly.servedCertificate('www.a.test')?.serial).toBe(a.serial);
    expect(fastly.servedCertificate('b.test')).toBeUndefined();
    // The same key again answers with the existing record.
    const again = await fastly.uploadPrivateKey(a.privateKeyPem, 'a.test private key');
    expect(again.id).toBe(deployed.privateKey.id);
    expect(fastly.keys.size).toBe(1);
  });

  it('disables the SAN entries a replacement leaves out (Fastly docs: Replace a certificate)', async () => {
    const fastly = createFakeWorld().fastly;
    const a = issued.get('a.test')!;
    const b = issued.get('b.test')!;
    await fastly.uploadPrivateKey(a.privateKeyPem, 'a');
    const created = await fastly.createBulkCertificate(splitFullchain(a.fullchainPem).certPem, splitFullchain(a.fullchainPem).intermediatesPem, 'cfg');
    await fastly.uploadPrivateKey(b.privateKeyPem, 'b');
    const replaced = await fastly.replaceBulkCertificate(created.id, splitFullchain(b.fullchainPem).certPem, splitFullchain(b.fullchainPem).intermediatesPem);
    expect(replaced.id).toBe(created.id);
    expect(replaced.domains).toEqual(['b.test', '*.b.test']);
    expect(fastly.certs.get(created.id)?.disabledDomains).toEqual(['a.test', '*.a.test']);
    expect(fastly.servedCertificate('a.test')).toBeUndefined();
    // The old key is now unused and can go; a key in use cannot.
    expect((await fastly.listPrivateKeys({ inUse: false })).map((k) => k.name)).toEqual(['a']);
    const used = (await fastly.listPrivateKeys({ inUse: true }))[0]!;
    await expect(fastly.deletePrivateKey(used.id)).rejects.toThrow(/in use/);
  });

  it('limits writes per hour and says so in Fastly-RateLimit-Remaining/Reset', async () => {
    const { fastly, clock } = createFakeWorld({ fastly: { writeLimit: 2 } });
    const a = issued.get('a.test')!;
    await fastly.uploadPrivateKey(a.privateKeyPem, 'a');
    const reset = Number(fastly.rateLimitHeaders()['Fastly-RateLimit-Reset']);
    expect(fastly.rateLimitHeaders()['Fastly-RateLimit-Remaining']).toBe('1');
    expect(reset).toBe(Math.floor(clock.now().getTime() / 1000) + 3600);
    await fastly.createBulkCertificate(splitFullchain(a.fullchainPem).certPem, splitFullchain(a.fullchainPem).intermediatesPem, 'cfg');
    const error = (await fastly.deletePrivateKey('nope').catch((e: unknown) => e)) as FastlyError;
    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBe(3600);
    await fastly.listBulkCertificates(); // reads are not limited
    clock.advanceHours(1);
    expect(fastly.rateLimitHeaders()['Fastly-RateLimit-Remaining']).toBe('2');
  });

  it('answers 503 by percentage or for the next calls, retried as the client retries', async () => {
    const { fastly } = createFakeWorld();
    fastly.faults.failNext = 2;
    await fastly.listBulkCertificates(); // two 503s, then success on the third attempt
    expect(fastly.calls.map((c) => c.status)).toEqual([503, 503, 200]);
    fastly.faults.failurePercent = 100;
    const error = (await fastly.listBulkCertificates().catch((e: unknown) => e)) as FastlyError;
    expect(error).toBeInstanceOf(FastlyError);
    expect(error.status).toBe(503);
    expect(fastly.calls.length).toBe(3 + 4);
  });
});
