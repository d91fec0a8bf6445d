// Which credentials sign each AWS call, checked on the wire: the Route 53 and
// Secrets Manager plugins are built from the configuration exactly as the
// service builds them (loadSettings → createDnsProvider / createSecretsStore),
// pointed at a recording proxy in front of the testbed's moto_server, which
// also answers STS AssumeRole with fresh session credentials.
//
// moto is shared by parallel test files: the hosted zones and secrets here
// carry a per-run prefix and are ours alone; moto is never reset.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import '../../testbed/context.js';
import { startAwsRecordingProxy, type AwsRecordingProxy, type RecordedAwsCall } from '../../testbed/aws-recording-proxy.js';
import { CreateHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { loadSettings } from '../../../src/config/index.js';
import { createDnsProvider, type DnsProvider } from '../../../src/dns/index.js';
import { createSecretsStore, type SecretsStore } from '../../../src/secrets/index.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const RUN = `awscreds-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
const ROLE = 'arn:aws:iam::111111111111:role/autotls';
const DNS_ROLE_A = 'arn:aws:iam::222222222222:role/dns-a';
const DNS_ROLE_DEFAULT = 'arn:aws:iam::333333333333:role/dns';
// moto keeps one state per account, and credentials from its STS AssumeRole act in
// the role's account, as on AWS: a hosted zone is reachable only with credentials of
// its own account. Each zone below lives in the account whose role must sign its calls.
const ZONE_BASE = `${RUN}-base.test`; // moto's default account: any other access key
const ZONE_SERVICE = `${RUN}-svc.test`; // account of ROLE
const ZONE_A = `${RUN}-a.test`; // account of DNS_ROLE_A
const ZONE_B = `${RUN}-b.test`; // account of DNS_ROLE_DEFAULT

let proxy: AwsRecordingProxy;
const zoneIds = new Map<string, string>();

/** Creates hosted zone `name` at moto in the account of `roleArn` (undefined: the default account). */
async function createZone(name: string, roleArn: string | undefined): Promise<string> {
  const testing = { accessKeyId: 'testing', secretAccessKey: 'testing' };
  const credentials = roleArn === undefined
    ? testing
    : fromTemporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: 'setup' }, masterCredentials: testing, clientConfig: { region: 'us-east-1', endpoint: tb.moto.endpoint } });
  const client = new Route53Client({ region: 'us-east-1', endpoint: tb.moto.endpoint, credentials, maxAttempts: 2 });
  try {
    const out = await client.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `${name}-${Date.now()}` }));
    return (out.HostedZone?.Id ?? '').replace(/^\/hostedzone\//, '');
  } finally {
    client.destroy();
  }
}

beforeAll(async () => {
  for (const [zone, role] of [[ZONE_BASE, undefined], [ZONE_SERVICE, ROLE], [ZONE_A, DNS_ROLE_A], [ZONE_B, DNS_ROLE_DEFAULT]] as const) {
    zoneIds.set(zone, await createZone(zone, role));
  }
  proxy = await startAwsRecordingProxy(tb.moto.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
});

function zoneId(zone: string): string {
  const id = zoneIds.get(zone);
  if (id === undefined) throw new Error(`no hosted zone ${zone}`);
  return id;
}

/** The plugins as the composition root builds them from this environment. */
function plugins(env: Record<string, string>): { dns: DnsProvider; secrets: SecretsStore } {
  const settings = loadSettings({ DNS_PROVIDER: 'route53', SECRETS_PROVIDER: 'aws', AWS_REGION: 'us-east-1', ...env });
  return { dns: createDnsProvider(settings, logger), secrets: createSecretsStore(settings, logger) };
}

/** Every kind of Route 53 call the plugin makes for a challenge: publish (change + INSYNC wait), list, remove, zone lookup. */
async function exerciseRoute53(dns: DnsProvider, zone: string): Promise<void> {
  const fqdn = `_acme-challenge.${zone}`;
  await dns.addTxt(zoneId(zone), fqdn, [`token-${RUN}`]);
  expect(await dns.listTxt(zoneId(zone), fqdn)).toEqual([`token-${RUN}`]);
  await dns.removeTxt(zoneId(zone), fqdn, [`token-${RUN}`]);
}

async function exerciseSecrets(secrets: SecretsStore): Promise<void> {
  const name = `${RUN}/${Math.random().toString(36).slice(2)}/private_key`;
  await secrets.put(name, 'value-1');
  await secrets.put(name, 'value-2');
  expect(await secrets.get(name)).toBe('value-2');
  await secrets.delete(name);
}

function ofService(calls: RecordedAwsCall[], service: string): RecordedAwsCall[] {
  return calls.filter((call) => call.service === service);
}

/** Every call signed by `accessKeyId` and carrying `token` (signed, as SigV4 requires). */
function expectSignedBy(calls: RecordedAwsCall[], accessKeyId: string | undefined, token: string | undefined): void {
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) {
    expect({ op: call.operation, key: call.accessKeyId, token: call.securityToken, signed: call.tokenSigned }).toEqual({
      op: call.operation,
      key: accessKeyId,
      token,
      signed: token !== undefined,
    });
  }
}

function assumeRoleCalls(calls: RecordedAwsCall[]): RecordedAwsCall[] {
  return calls.filter((call) => call.operation === 'sts.AssumeRole');
}

function assumed(calls: RecordedAwsCall[], roleArn: string): { accessKeyId: string | undefined; sessionToken: string | undefined; call: RecordedAwsCall } {
  const matching = assumeRoleCalls(calls).filter((call) => call.assumeRole?.roleArn === roleArn);
  expect(matching, `AssumeRole calls for ${roleArn}`).toHaveLength(1);
  const call = matching[0] as RecordedAwsCall;
  expect(call.status).toBe(200);
  expect(call.assumeRole?.sessionName).toBe('autotls');
  expect(call.assumeRole?.accessKeyId).toMatch(/^\w{16,}$/);
  expect(call.assumeRole?.sessionToken).toBeTruthy();
  return { accessKeyId: call.assumeRole?.accessKeyId, sessionToken: call.assumeRole?.sessionToken, call };
}

describe('temporary keys: AWS_SESSION_TOKEN goes with every call', () => {
  it.each<{ names: string; keys: Record<string, string> }>([
    { names: 'standard names', keys: { AWS_ACCESS_KEY_ID: 'ASIATEMPORARYKEY0001', AWS_SECRET_ACCESS_KEY: 'temporary-secret-1' } },
    { names: 'Python AutoTLS names', keys: { AWS_ACCESS_KEY: 'ASIATEMPORARYKEY0002', AWS_SECRET_KEY: 'temporary-secret-2', AWS_REGION_NAME: 'us-east-1' } },
  ])('with the $names, every Route 53 and Secrets Manager call carries the key and the session token', async ({ keys }) => {
    const token = `session-token-${RUN}-${Object.keys(keys)[0]}`;
    const { dns, secrets } = plugins({ ...keys, AWS_SESSION_TOKEN: token, AWS_ENDPOINT_URL: proxy.endpoint });
    const mark = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_BASE);
    expect(await dns.findZone(`_acme-challenge.${ZONE_BASE}`)).toBe(zoneId(ZONE_BASE));
    await exerciseSecrets(secrets);

    const calls = proxy.since(mark);
    const keyId = Object.values(keys)[0];
    const route53 = ofService(calls, 'route53');
    expect(new Set(route53.map((c) => c.operation.split(' ')[0]))).toEqual(new Set(['GET', 'POST']));
    expect(route53.some((c) => /\/change\//.test(c.path))).toBe(true); // the INSYNC wait (GetChange)
    expectSignedBy(route53, keyId, token);
    expectSignedBy(ofService(calls, 'secretsmanager'), keyId, token);
    expect(calls.every((c) => c.service === 'route53' || c.service === 'secretsmanager')).toBe(true);
  });
});

describe('the SDK default credential chain', () => {
  const saved = { ...process.env };
  let dir: string;
  let container: Server | undefined;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'autotls-aws-'));
  });
  afterEach(async () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await new Promise<void>((resolve) => (container ? container.close(() => resolve()) : resolve()));
    container = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Only the sources a test names: no ~/.aws files, no instance metadata (loopback only). */
  function isolateChain(): void {
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '');
    process.env.AWS_CONFIG_FILE = empty;
    process.env.AWS_SHARED_CREDENTIALS_FILE = empty;
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']) {
      delete process.env[key];
    }
  }

  it('AWS_PROFILE: the profile\'s temporary keys and session token sign every call', async () => {
    isolateChain();
    const credentials = path.join(dir, 'credentials');
    const token = `profile-token-${RUN}`;
    writeFileSync(credentials, `[autotls-test]\naws_access_key_id = ASIAPROFILEKEY000001\naws_secret_access_key = profile-secret\naws_session_token = ${token}\n`);
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
    const { dns, secrets } = plugins({ AWS_PROFILE: 'autotls-test', AWS_ENDPOINT_URL: proxy.endpoint });
    const mark = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_BASE);
    await exerciseSecrets(secrets);
    const calls = proxy.since(mark);
    expectSignedBy(ofService(calls, 'route53'), 'ASIAPROFILEKEY000001', token);
    expectSignedBy(ofService(calls, 'secretsmanager'), 'ASIAPROFILEKEY000001', token);
  });

  it('ECS/EKS container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI) sign every call', async () => {
    isolateChain();
    const token = `container-token-${RUN}`;
    // The ECS task-role endpoint answers JSON with AccessKeyId, SecretAccessKey, Token, Expiration
    // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).
    container = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ AccessKeyId: 'ASIACONTAINERKEY0001', SecretAccessKey: 'container-secret', Token: token, Expiration: new Date(Date.now() + 3_600_000).toISOString() }));
    });
    await new Promise<void>((resolve) => container?.listen(0, '127.0.0.1', () => resolve()));
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `http://127.0.0.1:${(container.address() as AddressInfo).port}/v2/credentials/task`;
    const { dns, secrets } = plugins({ AWS_ENDPOINT_URL: proxy.endpoint });
    const mark = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_BASE);
    await exerciseSecrets(secrets);
    const calls = proxy.since(mark);
    expectSignedBy(ofService(calls, 'route53'), 'ASIACONTAINERKEY0001', token);
    expectSignedBy(ofService(calls, 'secretsmanager'), 'ASIACONTAINERKEY0001', token);
  });
});

describe('assumed roles (STS AssumeRole at moto)', () => {
  const base = { AWS_ACCESS_KEY_ID: 'ASIABASEKEY000000001', AWS_SECRET_ACCESS_KEY: 'base-secret', AWS_SESSION_TOKEN: `base-token-${RUN}` };

  it('AWS_ASSUME_ROLE_ARN: one AssumeRole signed by the base keys, then every Route 53 and Secrets Manager call carries the role\'s key and token', async () => {
    const { dns, secrets } = plugins({
      ...base,
      AWS_ASSUME_ROLE_ARN: ROLE,
      AWS_ENDPOINT_URL_STS: proxy.endpoint,
      AWS_ENDPOINT_URL_ROUTE_53: proxy.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: proxy.endpoint,
    });
    const mark = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_SERVICE);
    await exerciseSecrets(secrets);
    const calls = proxy.since(mark);

    expect(assumeRoleCalls(calls)).toHaveLength(1); // one session, shared by both services
    const role = assumed(calls, ROLE);
    expectSignedBy([role.call], base.AWS_ACCESS_KEY_ID, base.AWS_SESSION_TOKEN);
    expect(role.accessKeyId).not.toBe(base.AWS_ACCESS_KEY_ID);
    expect(calls.indexOf(role.call)).toBe(0);
    expectSignedBy(ofService(calls, 'route53'), role.accessKeyId, role.sessionToken);
    expectSignedBy(ofService(calls, 'secretsmanager'), role.accessKeyId, role.sessionToken);
  });

  it('ROUTE53_ASSUME_ROLE_ARN: Route 53 calls carry the DNS role\'s credentials, Secrets Manager calls the base ones', async () => {
    const { dns, secrets } = plugins({ ...base, ROUTE53_ASSUME_ROLE_ARN: DNS_ROLE_DEFAULT, AWS_ENDPOINT_URL: proxy.endpoint });
    const mark = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_B);
    await exerciseSecrets(secrets);
    const calls = proxy.since(mark);

    const dnsRole = assumed(calls, DNS_ROLE_DEFAULT);
    expect(assumeRoleCalls(calls)).toHaveLength(1);
    expectSignedBy([dnsRole.call], base.AWS_ACCESS_KEY_ID, base.AWS_SESSION_TOKEN);
    expectSignedBy(ofService(calls, 'route53'), dnsRole.accessKeyId, dnsRole.sessionToken);
    expectSignedBy(ofService(calls, 'secretsmanager'), base.AWS_ACCESS_KEY_ID, base.AWS_SESSION_TOKEN);
  });

  it('per-zone ROUTE53_ASSUME_ROLE_ARN: each hosted zone\'s calls carry its role, assumed from the AWS_ASSUME_ROLE_ARN session', async () => {
    const { dns, secrets } = plugins({
      ...base,
      AWS_ASSUME_ROLE_ARN: ROLE,
      ROUTE53_ASSUME_ROLE_ARN: `/hostedzone/${zoneId(ZONE_A)}=${DNS_ROLE_A}, ${DNS_ROLE_DEFAULT}`,
      AWS_ENDPOINT_URL: proxy.endpoint,
    });
    const start = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_A);
    const afterA = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_B);
    const afterB = proxy.calls.length;
    await exerciseRoute53(dns, ZONE_A); // cached: no new AssumeRole
    await exerciseSecrets(secrets);
    const all = proxy.since(start);

    const service = assumed(all, ROLE);
    const roleA = assumed(all, DNS_ROLE_A);
    const roleDefault = assumed(all, DNS_ROLE_DEFAULT);
    expect(assumeRoleCalls(all)).toHaveLength(3);
    expectSignedBy([service.call], base.AWS_ACCESS_KEY_ID, base.AWS_SESSION_TOKEN);
    expectSignedBy([roleA.call, roleDefault.call], service.accessKeyId, service.sessionToken);
    expect(new Set([service.accessKeyId, roleA.accessKeyId, roleDefault.accessKeyId]).size).toBe(3);

    expectSignedBy(ofService(proxy.calls.slice(start, afterA), 'route53'), roleA.accessKeyId, roleA.sessionToken);
    expectSignedBy(ofService(proxy.calls.slice(afterA, afterB), 'route53'), roleDefault.accessKeyId, roleDefault.sessionToken);
    expectSignedBy(ofService(proxy.since(afterB), 'route53'), roleA.accessKeyId, roleA.sessionToken);
    expectSignedBy(ofService(all, 'secretsmanager'), service.accessKeyId, service.sessionToken);
  });

  it('a refused AssumeRole names the variable, the role and the cause', async () => {
    // moto answers AssumeRole for any role; a closed STS endpoint stands in for a refusal.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { secrets } = plugins({ ...base, AWS_ASSUME_ROLE_ARN: ROLE, AWS_ENDPOINT_URL: proxy.endpoint, AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${port}` });
    const error = await secrets.get(`${RUN}/missing`).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/Secrets Manager GetSecretValue failed .*assuming AWS_ASSUME_ROLE_ARN arn:aws:iam::111111111111:role\/autotls \(STS AssumeRole\)/);
    expect(error?.message).not.toContain('base-secret');
    expect(error?.message).not.toContain(base.AWS_SESSION_TOKEN);
  });
});
