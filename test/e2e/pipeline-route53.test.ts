// The certificate pipeline end to end on the AWS side: the route53 DNS provider
// and the aws secrets store, both against moto, with PostgreSQL, driven over
// HTTP. A second Pebble validates through test/testbed/route53-dns.ts, so what
// the route53 plugin writes into moto is what the CA sees. The AWS settings use
// the Python AutoTLS names (AWS_ACCESS_KEY, AWS_SECRET_KEY, AWS_REGION_NAME).
//
// moto is shared by parallel test files: hosted zones r1…r5.e2e53.test and
// secrets under a per-run prefix are ours alone; moto is never reset.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListResourceRecordSetsCommand, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import '../testbed/context.js';
import { fetchPebbleRoot, splitPem } from '../testbed/helpers.js';
import { startPebble, type PebbleService } from '../testbed/services.js';
import { startRoute53Dns, type Route53Dns } from '../testbed/route53-dns.js';
import { ensureHostedZone, motoRoute53 } from '../dns/moto.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { startHarness, TLS_CONFIGURATION_ID, type Harness } from './harness.js';

const tb = inject('testbed');
const DOMAINS = ['r1', 'r2', 'r3', 'r4', 'r5'].map((r) => `${r}.e2e53.test`);
const PREFIX = `e2e53-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
const BASE = `${PREFIX}/pem`;
const ACCOUNT = `${PREFIX}/acme-account`;

const sm = new SecretsManagerClient({
  region: 'us-east-1',
  endpoint: tb.moto.endpoint,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
const route53 = motoRoute53(tb.moto.endpoint);

let h: Harness;
let dns: Route53Dns;
let pebble: PebbleService;
const zoneIds = new Map<string, string>();

async function smSecret(name: string): Promise<string | undefined> {
  const out = await sm.send(new GetSecretValueCommand({ SecretId: name }));
  return out.SecretString;
}

async function recordSets(zoneId: string): Promise<ResourceRecordSet[]> {
  return (await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }))).ResourceRecordSets ?? [];
}

beforeAll(async () => {
  for (const d of DOMAINS) zoneIds.set(d, await ensureHostedZone(tb.moto.endpoint, d));
  dns = await startRoute53Dns({ motoEndpoint: tb.moto.endpoint });
  pebble = await startPebble({ dir: tb.dir, dnsServer: dns.address });
  const account = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'e2e53@example.test' });
  await sm.send(new CreateSecretCommand({ Name: ACCOUNT, SecretString: JSON.stringify(account.accountKeyJwk) }));
  h = await startHarness({
    database: 'postgresql',
    registerAccount: false,
    env: {
      DNS_PROVIDER: 'route53',
      AWS_ENDPOINT_URL_ROUTE_53: tb.moto.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: tb.moto.endpoint,
      AWS_ACCESS_KEY: 'testing',
      AWS_SECRET_KEY: 'testing',
      AWS_REGION_NAME: 'us-east-1',
      SECRETS_PROVIDER: 'aws',
      PEM_SECRET_BASE_PATH: BASE,
      LE_DIRECTORY_URL: pebble.directoryUrl,
      LE_ACCOUNT_KEY_SECRET_NAME: ACCOUNT,
      DNS_RESOLVERS: dns.address,
    },
  });
});
afterAll(async () => {
  await h?.stop();
  await pebble?.stop();
  await dns?.stop();
  sm.destroy();
  route53.destroy();
});

describe('route53 + aws secrets (moto) + PostgreSQL', () => {
  it('uses the AWS plugins named by the Python AutoTLS variables', () => {
    expect(h.components.settings.database.provider).toBe('postgresql');
    expect(h.components.dns.name).toBe('route53');
    expect(h.components.secrets.name).toBe('aws');
    expect(h.components.settings.aws).toMatchObject({ region: 'us-east-1', accessKeyId: 'testing', route53Endpoint: tb.moto.endpoint });
  });

  it('issues, stores in Secrets Manager, uploads, records and notifies for 5 eligible domains', async () => {
    for (const d of DOMAINS) await h.addDomain(d, zoneIds.get(d));
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.status).toBe('succeeded');
    expect(doc.results.map((r) => r.domain).sort()).toEqual(DOMAINS);
    expect(doc.results.every((r) => r.outcome === 'issued')).toBe(true);

    const root = new X509Certificate(await fetchPebbleRoot(pebble));
    const db = h.components.database.client;
    for (const domain of DOMAINS) {
      // The three secrets, read back from moto with the SDK.
      const fullchain = await smSecret(`${BASE}/${domain}/fullchain`);
      expect(await smSecret(`${BASE}/${domain}/private_key`)).toMatch(/PRIVATE KEY/);
      expect(await smSecret(`${BASE}/${domain}/csr`)).toMatch(/CERTIFICATE REQUEST/);

      // A certificate from the second Pebble's root, covering d and *.d.
      const certs = splitPem(fullchain ?? '').map((p) => new X509Certificate(p));
      const leaf = certs[0] as X509Certificate;
      expect(leaf.subjectAltName).toContain(`DNS:${domain}`);
      expect(leaf.subjectAltName).toContain(`DNS:*.${domain}`);
      const top = certs[certs.length - 1] as X509Certificate;
      expect(top.checkIssued(root) && top.verify(root.publicKey), domain).toBe(true);

      // Fastly: the key and a bulk certificate for the domain, in our TLS configuration.
      const bulk = [...h.shared.fastly.certs.values()].filter((c) => c.domains.includes(domain));
      expect(bulk).toHaveLength(1);
      expect(bulk[0]?.configurationIds).toContain(TLS_CONFIGURATION_ID);
      expect(h.shared.fastly.keys.has(bulk[0]?.keyId ?? '')).toBe(true);
      expect(new X509Certificate(bulk[0]?.certPem ?? '').serialNumber).toBe(leaf.serialNumber);

      // PostgreSQL: a tls row and the domains row updated as the seed did.
      const row = await db.domain.findUniqueOrThrow({ where: { name: domain } });
      expect(row.tlsIssuer).toBe('Lets Encrypt');
      expect(row.lastUpdatedBy).toBe('tlstool');
      expect(row.tlsExpDate?.getTime()).toBe(new Date(leaf.validTo).getTime());
      const tls = await db.tls.findUniqueOrThrow({ where: { id: row.tlsId as number } });
      expect(tls.fastlyId).toBe(bulk[0]?.id);

      // Route53 holds no challenge record any more.
      const left = (await recordSets(zoneIds.get(domain) ?? '')).filter((s) => /_acme-challenge/i.test(s.Name ?? ''));
      expect(left, domain).toEqual([]);
    }
    const texts = h.shared.slack.delivered().map((p) => JSON.stringify(p.body));
    for (const domain of DOMAINS) expect(texts.some((t) => t.includes(domain)), domain).toBe(true);
  });

  it('answers nothing-to-do on the next /process and orders nothing', async () => {
    const orders = await h.components.database.client.acmeOrder.count();
    const fastlyCalls = h.shared.fastly.requests.length;
    const { status, doc } = await h.run('/process');
    expect(status).toBe(200);
    expect(doc.status).toBe('nothing-to-do');
    expect(doc.results).toEqual([]);
    expect(await h.components.database.client.acmeOrder.count()).toBe(orders);
    expect(h.shared.fastly.requests.length).toBe(fastlyCalls);
  });
});
