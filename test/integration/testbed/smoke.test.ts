// Smoke test of the testbed itself: the real ACME DNS-01 protocol with
// acme-client against Pebble, TXT records published in BIND with nsupdate.
// Zones: z01.test (positive), z02.test (negative). See test/testbed/context.ts.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TestbedInfo } from '../../testbed/context.js';
import { fetchPebbleRoot, nsupdate, queryTxt, splitPem } from '../../testbed/helpers.js';
import { acme, quietAcmeClient } from './acme-util.js';

const tb: TestbedInfo = inject('testbed');

async function newClient(): Promise<acme.Client> {
  const client = new acme.Client({ directoryUrl: tb.pebble.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey() });
  await client.createAccount({ termsOfServiceAgreed: true });
  return client;
}

/** Replaces the TXT RRset at `name` with `values` (one update message, one RRset). */
async function setTxt(name: string, values: string[]): Promise<void> {
  await nsupdate(tb.dns, [`update delete ${name}. TXT`, ...values.map((v) => `update add ${name}. 60 TXT "${v}"`)]);
}

function dns01(authz: acme.Authorization): acme.Authorization['challenges'][number] {
  const ch = authz.challenges.find((c) => c.type === 'dns-01');
  if (!ch) throw new Error(`no dns-01 challenge for ${authz.identifier.value}`);
  return ch;
}

describe('testbed smoke: ACME DNS-01 against Pebble and BIND', () => {
  beforeAll(() => {
    quietAcmeClient();
  });
  afterAll(async () => {
    await nsupdate(tb.dns, ['update delete _acme-challenge.z01.test. TXT']);
    await nsupdate(tb.dns, ['update delete _acme-challenge.z02.test. TXT']);
  });

  it('provides the documented testbed info', () => {
    expect(tb.dns.zones).toHaveLength(61);
    expect(tb.dns.zones).toContain('z01.test');
    expect(tb.dns.zones).toContain('z60.test');
    expect(tb.dns.zones).toContain('validation.test');
    expect(process.env.NODE_EXTRA_CA_CERTS).toBe(tb.caBundlePath);
  });

  it('issues a certificate for z01.test and *.z01.test that chains to Pebble\'s root', async () => {
    const client = await newClient();
    const names = ['z01.test', '*.z01.test'];
    const order = await client.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })) });
    const authzs = await client.getAuthorizations(order);
    expect(authzs).toHaveLength(2);

    // Both authorizations (apex and wildcard) validate at _acme-challenge.z01.test: one RRset, two values.
    const values = await Promise.all(authzs.map((a) => client.getChallengeKeyAuthorization(dns01(a))));
    await setTxt('_acme-challenge.z01.test', values);
    expect((await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z01.test')).sort()).toEqual([...values].sort());

    for (const a of authzs) await client.completeChallenge(dns01(a));
    for (const a of authzs) await client.waitForValidStatus(a);

    const [key, csr] = await acme.crypto.createCsr({ commonName: 'z01.test', altNames: names }, await acme.crypto.createPrivateEcdsaKey());
    expect(key.length).toBeGreaterThan(0);
    // Pebble finalizes asynchronously: the order may still be `processing`.
    const finalized = await client.waitForValidStatus(await client.finalizeOrder(order, csr));
    expect(finalized.status).toBe('valid');
    const pem = await client.getCertificate(finalized);

    const chain = splitPem(pem).map((p) => new X509Certificate(p));
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const leaf = chain[0]!;
    expect(leaf.subjectAltName).toContain('DNS:z01.test');
    expect(leaf.subjectAltName).toContain('DNS:*.z01.test');
    expect(leaf.checkHost('z01.test')).toBe('z01.test');
    expect(leaf.checkHost('www.z01.test')).toBe('*.z01.test'); // matched by the wildcard SAN

    const root = new X509Certificate(await fetchPebbleRoot(tb.pebble));
    for (let i = 0; i < chain.length - 1; i++) {
      expect(chain[i]!.checkIssued(chain[i + 1]!)).toBe(true);
      expect(chain[i]!.verify(chain[i + 1]!.publicKey)).toBe(true);
    }
    const top = chain[chain.length - 1]!;
    expect(top.checkIssued(root)).toBe(true);
    expect(top.verify(root.publicKey)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true); // self-signed

    await nsupdate(tb.dns, ['update delete _acme-challenge.z01.test. TXT']);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z01.test')).toEqual([]);
  });

  it('Pebble rejects the authorization when the TXT value is wrong (z02.test)', async () => {
    const client = await newClient();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'z02.test' }] });
    const [authz] = await client.getAuthorizations(order);
    const challenge = dns01(authz!);
    await setTxt('_acme-challenge.z02.test', ['this-is-not-the-key-authorization-digest']);

    await client.completeChallenge(challenge);
    const failure = await client.waitForValidStatus(challenge).then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    // Pebble 2.4: "Correct value not found for DNS challenge" (problem type unauthorized, checked below).
    expect(message).toMatch(/correct value not found|incorrect TXT/i);

    // The challenge resource carries the ACME problem document.
    const [after] = await client.getAuthorizations(order);
    expect(after!.status).toBe('invalid');
    const failed = dns01(after!) as acme.Authorization['challenges'][number] & { error?: { type: string; detail: string } };
    expect(failed.status).toBe('invalid');
    expect(failed.error?.type).toBe('urn:ietf:params:acme:error:unauthorized');

    await nsupdate(tb.dns, ['update delete _acme-challenge.z02.test. TXT']);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z02.test')).toEqual([]);
  });

  it('BIND refuses updates signed with a wrong secret and accepts CNAME updates with the key', async () => {
    await expect(nsupdate({ ...tb.dns, tsigSecret: Buffer.alloc(32, 1).toString('base64') }, ['update add _acme-challenge.z03.test. 60 TXT "x"'])).rejects.toThrow(/NOTAUTH|BADSIG|REFUSED|tsig/i);
    await nsupdate(tb.dns, ['update add _acme-challenge.z03.test. 60 CNAME z03.validation.test.']);
    await nsupdate(tb.dns, ['update delete _acme-challenge.z03.test. CNAME']);
  });
});
