// AcmeIssuer against the real Pebble + BIND of the testbed, and against the
// ARI/profiles front (test/testbed/ari-server.ts) that proxies to that Pebble.
// Zones: z16.test ... z20.test. DNS-01 goes through the real publisher (src/dns).
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeClock, systemClock } from '../../../src/clock.js';
import {
  AcmeAccountMissingError,
  AcmeIssuer,
  AcmeNetworkError,
  AcmeProfileError,
  AcmeRateLimitedError,
  AcmeValidationError,
  type IssuedCertificate,
} from '../../../src/certificates/acme.js';
import { ariCertId, coversDomain, readCertificate, splitFullchain } from '../../../src/certificates/x509.js';
import { createChallengePublisher, createDnsProvider, type ChallengePublisher, type PublishedChallenge } from '../../../src/dns/index.js';
import { createLogger } from '../../../src/logger.js';
import { AriServer, pebbleServerTls } from '../../testbed/ari-server.js';
import '../../testbed/context.js';
import { fetchPebbleRoot, needsPebble27, pebbleFindsReplaced, queryTxt, splitPem } from '../../testbed/helpers.js';

const tb = inject('testbed');
const logger = createLogger({ level: 'silent' });

/**
 * The real DNS-01 publisher (src/dns: RFC 2136 to the testbed's BIND, with the
 * propagation check asking that BIND), wrapped to record the calls and, for the
 * failure test, to publish wrong values.
 */
function realPublisher(): ChallengePublisher {
  const settings = {
    dns: {
      provider: 'rfc2136' as const,
      rfc2136: { nameserver: `${tb.dns.host}:${tb.dns.port}`, tsigKey: tb.dns.tsigKeyName, tsigSecret: tb.dns.tsigSecret, tsigAlgorithm: `${tb.dns.tsigAlgorithm}.` },
      cloudflare: { apiToken: undefined, apiUrl: 'http://127.0.0.1:9' },
      pdns: { apiUrl: undefined, apiKey: undefined, serverName: 'localhost' },
      resolvers: [`${tb.dns.host}:${tb.dns.port}`],
      propagationTimeoutSeconds: 20,
      propagationCheck: true,
    },
    aws: { region: 'us-east-1', accessKeyId: undefined, secretAccessKey: undefined, route53Endpoint: undefined, secretsManagerEndpoint: undefined },
  };
  return createChallengePublisher(settings, createDnsProvider(settings, logger), logger);
}

class RecordingPublisher implements ChallengePublisher {
  readonly calls: string[] = [];
  readonly published: string[][] = [];
  private readonly inner = realPublisher();
  constructor(private readonly tamper?: (values: string[]) => string[]) {}

  async clearStale(domain: string, zone: string): Promise<void> {
    this.calls.push(`clearStale ${domain}`);
    await this.inner.clearStale(domain, zone);
  }

  async publish(domain: string, zone: string, values: string[]): Promise<PublishedChallenge> {
    this.calls.push(`publish ${domain}`);
    this.published.push(values);
    return this.inner.publish(domain, zone, this.tamper ? this.tamper(values) : values);
  }

  async cleanup(published: PublishedChallenge): Promise<void> {
    this.calls.push(`cleanup ${published.fqdn}`);
    await this.inner.cleanup(published);
  }
}

function newAccountKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

let accountKeyPem: string;
let pebbleRoot: string;

beforeAll(async () => {
  for (const z of ['z16.test', 'z17.test', 'z18.test', 'z19.test', 'z20.test']) expect(tb.dns.zones).toContain(z);
  const account = await AcmeIssuer.register({ directoryUrl: tb.pebble.directoryUrl, email: 'certificates-test@example.com' });
  accountKeyPem = account.accountKeyPem;
  expect(account.accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
  expect(account.accountKeyJwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
  expect(typeof account.accountKeyJwk.d).toBe('string');
  pebbleRoot = await fetchPebbleRoot(tb.pebble);
});

/** The leaf verifies against the chain up to Pebble's root, and the private key matches it. */
function expectChainsToPebble(cert: IssuedCertificate): void {
  const { leafPem, intermediatesPem } = splitFullchain(cert.fullchainPem);
  const chain = [leafPem, ...intermediatesPem, ...splitPem(pebbleRoot)].map((p) => new X509Certificate(p));
  for (let i = 0; i + 1 < chain.length; i += 1) {
    const [child, parent] = [chain[i] as X509Certificate, chain[i + 1] as X509Certificate];
    expect(child.verify(parent.publicKey)).toBe(true);
  }
  expect(chain[0]?.checkPrivateKey(createPrivateKey(cert.privateKeyPem))).toBe(true);
}

describe('AcmeIssuer against Pebble', () => {
  it('issues <domain> + *.<domain> with one TXT record set holding both values, then removes it', async () => {
    const requests: string[] = [];
    const issuer = await AcmeIssuer.connect({
      directoryUrl: tb.pebble.directoryUrl, accountKeyPem, logger, clock: systemClock,
      onRequest: (endpoint, status) => requests.push(`${endpoint} ${status}`),
    });
    const publisher = new RecordingPublisher();
    const created: string[] = [];
    const started = Date.now();
    const cert = await issuer.issue({ domain: 'z16.test', zone: 'z16.test', keyType: 'ec256' }, {
      publisher,
      onOrderCreated: (o) => { created.push(o.orderUrl); },
    });
    const elapsed = Date.now() - started;

    const info = readCertificate(cert.fullchainPem);
    expect(coversDomain(info, 'z16.test')).toBe(true);
    expect(coversDomain(info, 'www.z16.test')).toBe(true);
    expect(info.dnsNames.sort()).toEqual(['*.z16.test', 'z16.test']);
    expect(cert.serial).toBe(info.serial);
    expect(cert.notAfter).toEqual(info.notAfter);
    expect(cert.certId).toBe(ariCertId(cert.fullchainPem));
    expect(cert.replacesAccepted).toBe(false);
    expect(created).toEqual([cert.orderUrl]);
    expect(createPrivateKey(cert.privateKeyPem).asymmetricKeyType).toBe('ec');
    expectChainsToPebble(cert);

    // One publish with both digests (apex + wildcard share _acme-challenge.z16.test).
    expect(publisher.calls).toEqual(['clearStale z16.test', 'publish z16.test', 'cleanup _acme-challenge.z16.test']);
    expect(publisher.published[0]).toHaveLength(2);
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z16.test')).toEqual([]);

    // Metrics see resource names, not URLs.
    for (const r of ['directory 200', 'newAccount 200', 'newOrder 201', 'authz 200', 'chall 200', 'finalize 200', 'order 200', 'cert 200']) {
      expect(requests).toContain(r);
    }
    expect(requests.every((r) => /^[a-zA-Z]+ \d+$/.test(r))).toBe(true);
    expect(elapsed).toBeLessThan(20_000);
  });

  it('issues with an RSA key and a fresh key per order', async () => {
    const issuer = await AcmeIssuer.connect({ directoryUrl: tb.pebble.directoryUrl, accountKeyPem, logger, clock: systemClock });
    const publisher = new RecordingPublisher();
    const a = await issuer.issue({ domain: 'z17.test', zone: 'z17.test', keyType: 'rsa2048' }, { publisher });
    const b = await issuer.issue({ domain: 'z17.test', zone: 'z17.test', keyType: 'rsa2048' }, { publisher });
    expect(createPrivateKey(a.privateKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(a.privateKeyPem).not.toBe(b.privateKeyPem);
    expect(a.serial).not.toBe(b.serial);
    expectChainsToPebble(b);
  });

  it('reports a failed DNS-01 validation with the CA detail, and still cleans up', async () => {
    const issuer = await AcmeIssuer.connect({ directoryUrl: tb.pebble.directoryUrl, accountKeyPem, logger, clock: systemClock });
    const publisher = new RecordingPublisher((values) => values.map(() => 'not-the-right-digest'));
    const error = await issuer.issue({ domain: 'z18.test', zone: 'z18.test', keyType: 'ec256' }, { publisher }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeValidationError);
    const v = error as AcmeValidationError;
    expect(v.identifier).toMatch(/z18\.test$/);
    expect(v.problemType).toBe('urn:ietf:params:acme:error:unauthorized');
    expect(v.detail).toMatch(/Correct value not found for DNS challenge/); // Pebble's wording (Let's Encrypt: "Incorrect TXT record ...")
    expect(v.message).toContain('ACME validation failed for');
    expect(publisher.calls.at(-1)).toBe('cleanup _acme-challenge.z18.test');
    expect(await queryTxt(tb.dns.host, tb.dns.port, '_acme-challenge.z18.test')).toEqual([]);
  });

  it('throws AcmeAccountMissingError, naming `autotls account create`, for an unknown key', async () => {
    const error = await AcmeIssuer.connect({ directoryUrl: tb.pebble.directoryUrl, accountKeyPem: newAccountKeyPem(), logger, clock: systemClock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeAccountMissingError);
    expect((error as Error).message).toContain('autotls account create');
  });

  it('has no renewalInfo on a CA without ARI, and orders without a profile (with a warning) when none are advertised', async () => {
    // Pebble 2.4.0 is such a CA; Pebble 2.7.0 has both, so the ARI front removes them.
    const bare = await AriServer.start({
      upstreamDirectoryUrl: tb.pebble.directoryUrl,
      upstreamCa: readFileSync(tb.pebble.caCertPath),
      tls: pebbleServerTls(tb.pebble.caCertPath),
      renewalInfo: false,
      profiles: null,
    });
    try {
      const issuer = await AcmeIssuer.connect({ directoryUrl: bare.directoryUrl, accountKeyPem, logger, clock: systemClock });
      expect(await issuer.profiles()).toBeUndefined();
      const cert = await issuer.issue({ domain: 'z19.test', zone: 'z19.test', keyType: 'ec256', profile: 'shortlived' }, { publisher: new RecordingPublisher() });
      expect(await issuer.renewalInfo(cert.certId as string)).toBeUndefined();
      expect(bare.newOrderPayloads().at(-1)).not.toHaveProperty('profile');
    } finally {
      await bare.close();
    }
  });

  needsPebble27.it("reads Pebble 2.7.0's own profiles and ARI window (Retry-After 6 hours)", async () => {
    const issuer = await AcmeIssuer.connect({ directoryUrl: tb.pebble.directoryUrl, accountKeyPem, logger, clock: systemClock });
    expect(await issuer.profiles()).toEqual({ classic: '90 days', tlsserver: '45 days', shortlived: '160 hours' });
    const cert = await issuer.issue({ domain: 'z19.test', zone: 'z19.test', keyType: 'ec256', profile: 'shortlived' }, { publisher: new RecordingPublisher() });
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBeLessThanOrEqual(160 * 3_600_000);
    const info = await issuer.renewalInfo(cert.certId as string);
    expect(info?.retryAfterSeconds).toBe(21_600);
    expect(info?.suggestedWindow.start.getTime()).toBeGreaterThan(cert.notBefore.getTime());
    expect(info?.suggestedWindow.end.getTime()).toBeLessThan(cert.notAfter.getTime());
  });
});

describe('AcmeIssuer with ARI, profiles and rate limits (ARI front proxying to Pebble)', () => {
  let ari: AriServer;
  const clock = new FakeClock('2026-06-01T00:00:00Z');
  let issuer: AcmeIssuer;

  beforeAll(async () => {
    ari = await AriServer.start({
      upstreamDirectoryUrl: tb.pebble.directoryUrl,
      upstreamCa: readFileSync(tb.pebble.caCertPath),
      tls: pebbleServerTls(tb.pebble.caCertPath),
      profiles: { classic: 'The same profile you are used to', shortlived: 'A short-lived certificate' },
    });
    issuer = await AcmeIssuer.connect({ directoryUrl: ari.directoryUrl, accountKeyPem, logger, clock });
  });
  afterEach(() => ari.clearStubs());
  afterAll(async () => { await ari.close(); });

  it('reads the suggested window and renews with `replaces` (Pebble accepts the field and issues)', async () => {
    const publisher = new RecordingPublisher();
    const issueFirst = () => issuer.issue({ domain: 'z20.test', zone: 'z20.test', keyType: 'ec256', profile: 'classic' }, { publisher });
    let first = await issueFirst();
    // A certificate Pebble cannot find by its CertID (one in 256, helpers.ts) is issued again.
    for (let i = 0; i < 5 && !pebbleFindsReplaced(first.certId ?? ''); i++) first = await issueFirst();
    const certId = first.certId ?? '';
    expect(certId).toMatch(/^[\w-]+\.[\w-]+$/);

    ari.setRenewalInfo(certId, {
      start: '2026-06-10T00:00:00Z', end: '2026-06-12T00:00:00Z',
      explanationURL: 'https://ca.example/why', retryAfter: 21600,
    });
    const info = await issuer.renewalInfo(first.certId as string);
    expect(info).toEqual({
      suggestedWindow: { start: new Date('2026-06-10T00:00:00Z'), end: new Date('2026-06-12T00:00:00Z') },
      explanationUrl: 'https://ca.example/why',
      retryAfterSeconds: 21600,
    });
    const ariRequest = ari.requests.find((r) => r.resource === 'renewalInfo');
    expect(ariRequest).toMatchObject({ method: 'GET', path: `/renewalInfo/${certId}`, status: 200 });

    const created: Array<{ orderUrl: string; replaces?: string }> = [];
    const renewed = await issuer.issue({ domain: 'z20.test', zone: 'z20.test', keyType: 'ec256', profile: 'classic', replaces: certId }, {
      publisher, onOrderCreated: (o) => { created.push(o); },
    });
    expect(renewed.replacesAccepted).toBe(true);
    expect(created).toEqual([{ orderUrl: renewed.orderUrl, replaces: certId }]);
    expect(ari.newOrderPayloads().at(-1)).toMatchObject({ replaces: certId, profile: 'classic' });
    expect(renewed.serial).not.toBe(first.serial);
    expectChainsToPebble(renewed);
  });

  it.each([
    ['alreadyReplaced', 409, 'certificate AAAA.BBBB already has a replacement order'],
    ['malformed', 400, 'while parsing ARI CertID an error occurred'],
    ['unauthorized', 403, 'the certificate being replaced is not owned by this account'],
    // Pebble 2.7.0's words (wfe.go validateReplacementOrder) for a serial with a leading zero
    // byte; a 500 is first asked again as a transient answer (acme-transport.ts).
    ['serverInternal', 500, 'could not find an order for the given certificate: could not find order resulting in the given certificate serial number'],
  ])('orders again without `replaces` when the CA refuses it (%s)', async (type, status, detail) => {
    ari.stub('newOrder', {
      status,
      body: { type: `urn:ietf:params:acme:error:${type}`, detail, status },
    }, { when: (payload) => payload?.replaces !== undefined });
    const before = ari.newOrderPayloads().length;
    const cert = await issuer.issue({ domain: 'z20.test', zone: 'z20.test', keyType: 'ec256', replaces: 'AAAA.BBBB' }, { publisher: new RecordingPublisher() });
    expect(cert.replacesAccepted).toBe(false);
    const sent = ari.newOrderPayloads().slice(before);
    const withReplaces = sent.slice(0, -1);
    expect(withReplaces.length).toBe(status === 500 ? 2 : 1);
    expect(withReplaces.map((p) => p?.replaces)).toEqual(withReplaces.map(() => 'AAAA.BBBB'));
    expect(sent.at(-1)).not.toHaveProperty('replaces');
  });

  it('refuses a profile the CA does not offer, naming the offered ones, before ordering', async () => {
    const before = ari.newOrderPayloads().length;
    const publisher = new RecordingPublisher();
    const error = await issuer.issue({ domain: 'z20.test', zone: 'z20.test', keyType: 'ec256', profile: 'tlsserver' }, { publisher }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProfileError);
    expect((error as Error).message).toMatch(/"tlsserver".*classic, shortlived/);
    expect(ari.newOrderPayloads().length).toBe(before);
    expect(publisher.calls).toEqual([]);
  });

  it('says so when the CA advertises profiles but none at all', async () => {
    ari.setProfiles({});
    try {
      const fresh = await AcmeIssuer.connect({ directoryUrl: ari.directoryUrl, accountKeyPem, logger, clock });
      const error = await fresh.issue({ domain: 'z20.test', zone: 'z20.test', keyType: 'ec256', profile: 'classic' }, { publisher: new RecordingPublisher() }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AcmeProfileError);
      expect((error as Error).message).toMatch(/"classic".*offers no profiles/);
    } finally {
      ari.setProfiles({ classic: 'The same profile you are used to', shortlived: 'A short-lived certificate' });
    }
  });

  it('retries a transient 503 (same signed request) and completes the order', async () => {
    ari.stub('newOrder', { status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'try again', status: 503 } });
    const before = ari.requests.filter((r) => r.resource === 'newOrder').length;
    const cert = await issuer.issue({ domain: 'z19.test', zone: 'z19.test', keyType: 'ec256' }, { publisher: new RecordingPublisher() });
    const orders = ari.requests.filter((r) => r.resource === 'newOrder').slice(before);
    expect(orders.map((r) => r.status)).toEqual([503, 201]);
    expectChainsToPebble(cert);
  });

  it('recovers from badNonce answers (acme-client re-signs with a fresh nonce)', async () => {
    ari.stub('newOrder', { status: 400, body: { type: 'urn:ietf:params:acme:error:badNonce', detail: 'JWS has an invalid anti-replay nonce', status: 400 } }, { times: 2 });
    ari.stub('finalize', { status: 400, body: { type: 'urn:ietf:params:acme:error:badNonce', detail: 'JWS has an invalid anti-replay nonce', status: 400 } });
    const cert = await issuer.issue({ domain: 'z19.test', zone: 'z19.test', keyType: 'ec256' }, { publisher: new RecordingPublisher() });
    expectChainsToPebble(cert);
    const bad = ari.requests.filter((r) => r.stubbed && (r.resource === 'newOrder' || r.resource === 'finalize'));
    expect(bad.length).toBeGreaterThanOrEqual(3);
  });

  it('gives up with AcmeNetworkError when the CA does not answer in time (bounded retries)', async () => {
    const impatient = await AcmeIssuer.connect({ directoryUrl: ari.directoryUrl, accountKeyPem, logger, clock, timeoutMs: 300 });
    ari.stub('newOrder', { status: 201, delayMs: 10_000 }, { times: 3 });
    const publisher = new RecordingPublisher();
    const started = Date.now();
    const error = await impatient.issue({ domain: 'z19.test', zone: 'z19.test', keyType: 'ec256' }, { publisher }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect((error as Error).message).toBe('ACME newOrder request failed: timed out after 300 ms');
    expect(publisher.calls).toEqual([]);
  });

  it('surfaces a 429 at once as AcmeRateLimitedError with Retry-After, without touching DNS', async () => {
    ari.stub('newOrder', {
      status: 429,
      headers: { 'retry-after': '3600' },
      body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders recently', status: 429 },
    });
    const publisher = new RecordingPublisher();
    const started = Date.now();
    const error = await issuer.issue({ domain: 'z20.test', zone: 'z20.test', keyType: 'ec256' }, { publisher }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(AcmeRateLimitedError);
    const limited = error as AcmeRateLimitedError;
    expect(limited.endpoint).toBe('newOrder');
    expect(limited.retryAfter).toEqual(new Date(clock.now().getTime() + 3600_000));
    expect(limited.message).toContain('too many new orders recently');
    expect(publisher.calls).toEqual([]);
  });

  it('treats a 429 on newNonce (HTTP-date Retry-After) the same way', async () => {
    const until = new Date(clock.now().getTime() + 120_000);
    // A new issuer has no pooled nonce yet: its account lookup must ask newNonce first.
    ari.stub('newNonce', { status: 429, headers: { 'retry-after': until.toUTCString() } });
    const error = await AcmeIssuer.connect({ directoryUrl: ari.directoryUrl, accountKeyPem, logger, clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeRateLimitedError);
    expect((error as AcmeRateLimitedError).endpoint).toBe('newNonce');
    expect((error as AcmeRateLimitedError).retryAfter?.getTime()).toBe(Math.floor(until.getTime() / 1000) * 1000);
  });
});
