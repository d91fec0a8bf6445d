import { describe, expect, it } from 'vitest';
import { AwsCredentialSource, credentialSourceFor, memoizeCredentials, type AwsCredentials } from '../../../src/aws/credentials.js';
import { loadSettings, secretValues, type Settings } from '../../../src/config/index.js';

const aws = (extra: Partial<Settings['aws']> = {}): Settings['aws'] => ({
  region: 'us-east-1',
  accessKeyId: 'ASIABASE',
  secretAccessKey: 'base-secret',
  sessionToken: 'base-token',
  route53Endpoint: undefined,
  secretsManagerEndpoint: undefined,
  // A closed port: these tests must never reach STS.
  stsEndpoint: 'http://127.0.0.1:9',
  ...extra,
});

describe('memoizeCredentials', () => {
  const issued = (n: number, expiresAt: number): AwsCredentials => ({ accessKeyId: `K${n}`, secretAccessKey: 's', sessionToken: `T${n}`, expiration: new Date(expiresAt) });

  it('keeps credentials until five minutes before they expire, then refreshes once for concurrent callers', async () => {
    let clock = 0;
    let loads = 0;
    const provider = memoizeCredentials(async () => issued(++loads, clock + 3_600_000), () => clock);
    expect((await provider()).accessKeyId).toBe('K1');
    clock = 3_600_000 - 300_001;
    expect((await provider()).accessKeyId).toBe('K1');
    clock = 3_600_000 - 299_999;
    const [a, b] = await Promise.all([provider(), provider()]);
    expect([a.accessKeyId, b.accessKeyId, loads]).toEqual(['K2', 'K2', 2]);
  });

  it('keeps serving still-valid credentials when a refresh fails, retries 30 s later, and fails once they have expired', async () => {
    let clock = 0;
    let fail = false;
    const provider = memoizeCredentials(async () => {
      if (fail) throw new Error('STS down');
      return issued(1, 3_600_000);
    }, () => clock);
    let attempts = 0;
    const counted = memoizeCredentials(async () => {
      attempts++;
      if (fail) throw new Error('STS down');
      return issued(1, 3_600_000);
    }, () => clock);
    await provider();
    await counted();
    fail = true;
    clock = 3_600_000 - 120_000;
    expect((await provider()).accessKeyId).toBe('K1');
    expect((await counted()).accessKeyId).toBe('K1');
    expect(attempts).toBe(2);
    // Within 30 s of the failure, no new attempt; after that, one more.
    clock += 29_000;
    await counted();
    expect(attempts).toBe(2);
    clock += 2_000;
    await counted();
    expect(attempts).toBe(3);
    clock = 3_600_000;
    await expect(provider()).rejects.toThrow('STS down');
  });

  it('credentials without an expiration are kept for good', async () => {
    let loads = 0;
    const provider = memoizeCredentials(async () => ({ accessKeyId: `K${++loads}`, secretAccessKey: 's' }));
    await provider();
    await provider();
    expect(loads).toBe(1);
  });
});

describe('AwsCredentialSource', () => {
  it('static keys always carry their session token', async () => {
    const source = new AwsCredentialSource(aws());
    expect(source.service().key).toBe('base');
    expect(await source.service().provider()).toEqual({ accessKeyId: 'ASIABASE', secretAccessKey: 'base-secret', sessionToken: 'base-token' });
    expect(source.route53('Z1')).toEqual(source.service());
  });

  it('one provider per role, shared by every caller; Route 53 roles sit on the AWS_ASSUME_ROLE_ARN session', () => {
    const role = 'arn:aws:iam::111111111111:role/autotls';
    const dnsA = 'arn:aws:iam::222222222222:role/dns-a';
    const dns = 'arn:aws:iam::333333333333:role/dns';
    const source = new AwsCredentialSource(aws({ assumeRoleArn: role, route53Roles: { defaultRoleArn: dns, byZone: { Z1: dnsA } } }));
    expect(source.service().key).toBe(role);
    expect(source.service().provider).toBe(source.service().provider);
    expect(source.route53('/hostedzone/Z1').key).toBe(`${role} -> ${dnsA}`);
    expect(source.route53('Z2').key).toBe(`${role} -> ${dns}`);
    expect(source.route53(undefined).key).toBe(`${role} -> ${dns}`);
    expect(source.route53('Z1').provider).toBe(source.route53('z1').provider);
    expect(source.route53('Z1').provider).not.toBe(source.route53('Z2').provider);
  });

  it('a Route 53 role equal to AWS_ASSUME_ROLE_ARN is not assumed twice', () => {
    const role = 'arn:aws:iam::111111111111:role/autotls';
    const source = new AwsCredentialSource(aws({ assumeRoleArn: role, route53Roles: { defaultRoleArn: role, byZone: {} } }));
    expect(source.route53('Z1')).toEqual(source.service());
  });

  it('an unreachable STS gives an error naming the variable, the role and the cause, without secrets', async () => {
    const source = new AwsCredentialSource(aws({ assumeRoleArn: 'arn:aws:iam::111111111111:role/autotls' }), { connectionTimeoutMs: 1_000, requestTimeoutMs: 1_000 });
    const error = await source.service().provider().then(() => undefined, (e: unknown) => e as Error);
    expect(error?.name).toBe('AwsCredentialsError');
    expect(error?.message).toMatch(/^assuming AWS_ASSUME_ROLE_ARN arn:aws:iam::111111111111:role\/autotls \(STS AssumeRole\): /);
    expect(error?.message).not.toContain('base-secret');
    expect(error?.message).not.toContain('base-token');
  });

  it('one source per settings object, so that Route 53 and Secrets Manager share role sessions', () => {
    const settings = aws();
    expect(credentialSourceFor(settings)).toBe(credentialSourceFor(settings));
    expect(credentialSourceFor(aws())).not.toBe(credentialSourceFor(settings));
  });
});

describe('AWS settings in logs', () => {
  it('the session token and the secret key are among the values scrubbed from logs; the key id is not', () => {
    const s = loadSettings({
      AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret-example',
      AWS_SESSION_TOKEN: 'token-example-0123456789',
      AWS_ASSUME_ROLE_ARN: 'arn:aws:iam::111111111111:role/autotls',
      ROUTE53_ASSUME_ROLE_ARN: 'Z1=arn:aws:iam::222222222222:role/dns-a,arn:aws:iam::333333333333:role/dns',
    });
    expect(secretValues(s)).toContain('token-example-0123456789');
    expect(secretValues(s)).toContain('secret-example');
    expect(secretValues(s)).not.toContain('ASIAEXAMPLE');
  });
});
