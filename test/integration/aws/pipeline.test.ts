// The user's path with temporary AWS credentials and roles: `/process` over
// HTTP issues a certificate with the route53 DNS provider and the aws secrets
// store, both behind the recording proxy in front of moto. The configuration
// uses the Python AutoTLS names for temporary keys plus AWS_SESSION_TOKEN, a
// role for every AWS call and a second role for Route 53; the proxy shows which
// credentials signed every single call of the run.
//
// A second Pebble validates through test/testbed/route53-dns.ts, which reads
// moto's default account; the roles are in that account (moto's STS hands out
// credentials that act in the role's account), so the CA sees what was written.
// moto is shared by parallel test files: the hosted zone and secrets here carry
// a per-run prefix; moto is never reset.
import { X509Certificate } from 'node:crypto';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../../testbed/context.js';
import { startAwsRecordingProxy, type AwsRecordingProxy, type RecordedAwsCall } from '../../testbed/aws-recording-proxy.js';
import { startRoute53Dns, type Route53Dns } from '../../testbed/route53-dns.js';
import { startPebble, type PebbleService } from '../../testbed/services.js';
import { ensureHostedZone } from '../../dns/moto.js';
import { AcmeIssuer } from '../../../src/certificates/acme.js';
import { startHarness, type Harness } from '../../e2e/harness.js';

const tb = inject('testbed');
const RUN = `awspipe-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
const DOMAIN = `${RUN}.test`;
const BASE = `${RUN}/pem`;
const ACCOUNT = `${RUN}/acme-account`;
const SERVICE_ROLE = 'arn:aws:iam::123456789012:role/autotls-service';
const DNS_ROLE = 'arn:aws:iam::123456789012:role/autotls-dns';
const KEYS = { AWS_ACCESS_KEY: 'ASIAPIPELINEBASE0001', AWS_SECRET_KEY: 'pipeline-secret', AWS_SESSION_TOKEN: `pipeline-token-${RUN}` };

let proxy: AwsRecordingProxy;
let dns: Route53Dns;
let pebble: PebbleService;
let h: Harness;
const sm = new SecretsManagerClient({ region: 'us-east-1', endpoint: tb.moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

beforeAll(async () => {
  const zoneId = await ensureHostedZone(tb.moto.endpoint, DOMAIN);
  proxy = await startAwsRecordingProxy(tb.moto.endpoint);
  dns = await startRoute53Dns({ motoEndpoint: tb.moto.endpoint });
  pebble = await startPebble({ dir: tb.dir, dnsServer: dns.address });
  const account = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'awspipe@example.test' });
  await sm.send(new CreateSecretCommand({ Name: ACCOUNT, SecretString: JSON.stringify(account.accountKeyJwk) }));
  h = await startHarness({
    database: 'sqlite',
    registerAccount: false,
    env: {
      DNS_PROVIDER: 'route53',
      SECRETS_PROVIDER: 'aws',
      AWS_ENDPOINT_URL: proxy.endpoint,
      ...KEYS,
      AWS_REGION_NAME: 'us-east-1',
      AWS_ASSUME_ROLE_ARN: SERVICE_ROLE,
      ROUTE53_ASSUME_ROLE_ARN: DNS_ROLE,
      PEM_SECRET_BASE_PATH: BASE,
      LE_DIRECTORY_URL: pebble.directoryUrl,
      LE_ACCOUNT_KEY_SECRET_NAME: ACCOUNT,
      DNS_RESOLVERS: dns.address,
    },
  });
  await h.addDomain(DOMAIN, zoneId);
});
afterAll(async () => {
  await h?.stop();
  await pebble?.stop();
  await dns?.stop();
  await proxy?.stop();
  sm.destroy();
});

function signer(call: RecordedAwsCall): { key: string | undefined; token: string | undefined; signed: boolean } {
  return { key: call.accessKeyId, token: call.securityToken, signed: call.tokenSigned };
}

describe('/process with temporary keys, AWS_ASSUME_ROLE_ARN and ROUTE53_ASSUME_ROLE_ARN', () => {
  it('issues, and every AWS call of the run carries the right access key and session token', async () => {
    const mark = proxy.calls.length;
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.results.map((r) => [r.domain, r.outcome])).toEqual([[DOMAIN, 'issued']]);
    const fullchain = (await sm.send(new GetSecretValueCommand({ SecretId: `${BASE}/${DOMAIN}/fullchain` }))).SecretString ?? '';
    expect(new X509Certificate(fullchain).subjectAltName).toContain(`DNS:*.${DOMAIN}`);

    const calls = proxy.since(mark);
    const sts = calls.filter((c) => c.service === 'sts');
    expect(sts.map((c) => [c.operation, c.assumeRole?.roleArn, c.assumeRole?.sessionName])).toEqual([
      ['sts.AssumeRole', SERVICE_ROLE, 'autotls'],
      ['sts.AssumeRole', DNS_ROLE, 'autotls'],
    ]);
    const [service, dnsRole] = sts.map((c) => ({ key: c.assumeRole?.accessKeyId, token: c.assumeRole?.sessionToken, signed: true }));
    // The first role with the base keys and their token, the Route 53 role from the first role's session.
    expect(signer(sts[0] as RecordedAwsCall)).toEqual({ key: KEYS.AWS_ACCESS_KEY, token: KEYS.AWS_SESSION_TOKEN, signed: true });
    expect(signer(sts[1] as RecordedAwsCall)).toEqual(service);

    const route53 = calls.filter((c) => c.service === 'route53');
    const secrets = calls.filter((c) => c.service === 'secretsmanager');
    expect(route53.some((c) => c.method === 'POST' && c.path.endsWith('/rrset'))).toBe(true);
    expect(secrets.map((c) => c.operation)).toEqual(expect.arrayContaining(['secretsmanager.GetSecretValue', 'secretsmanager.CreateSecret']));
    for (const call of route53) expect({ op: call.operation, ...signer(call) }).toEqual({ op: call.operation, ...dnsRole });
    for (const call of secrets) expect({ op: call.operation, ...signer(call) }).toEqual({ op: call.operation, ...service });
    expect(calls.every((c) => ['sts', 'route53', 'secretsmanager'].includes(c.service ?? ''))).toBe(true);
  });
});
