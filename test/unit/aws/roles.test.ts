import { describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from '../../../src/config/index.js';
import { normalizeZoneId, parseRoute53Roles, route53RoleFor } from '../../../src/aws/roles.js';
import { Invalid } from '../../../src/config/parsers.js';

const A = 'arn:aws:iam::111111111111:role/dns-a';
const B = 'arn:aws:iam::222222222222:role/path/to/dns-b';
const D = 'arn:aws:iam::333333333333:role/dns';

function problems(env: Record<string, string>): string[] {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('ROUTE53_ASSUME_ROLE_ARN', () => {
  it('one ARN is the role for every zone', () => {
    const roles = parseRoute53Roles(D);
    expect(roles).toEqual({ defaultRoleArn: D, byZone: {} });
    expect(route53RoleFor(roles as Exclude<typeof roles, Invalid>, 'Z1')).toBe(D);
    expect(route53RoleFor(roles as Exclude<typeof roles, Invalid>, undefined)).toBe(D);
  });

  it('zone=ARN entries pick a role per hosted zone; the bare ARN serves every other zone', () => {
    const roles = parseRoute53Roles(` Z0123456789ABC=${A} , /hostedzone/z2=${B},${D}`);
    if (roles instanceof Invalid) throw new Error(roles.problem);
    expect(roles).toEqual({ defaultRoleArn: D, byZone: { Z0123456789ABC: A, Z2: B } });
    expect(route53RoleFor(roles, '/hostedzone/Z0123456789ABC')).toBe(A);
    expect(route53RoleFor(roles, 'z2')).toBe(B);
    expect(route53RoleFor(roles, 'Z3')).toBe(D);
  });

  it('without a default, zones not listed use no Route 53 role', () => {
    const roles = parseRoute53Roles(`Z1=${A}`);
    if (roles instanceof Invalid) throw new Error(roles.problem);
    expect(route53RoleFor(roles, 'Z1')).toBe(A);
    expect(route53RoleFor(roles, 'Z9')).toBeUndefined();
    expect(route53RoleFor(undefined, 'Z1')).toBeUndefined();
  });

  it('reaches the settings, with AWS_ASSUME_ROLE_ARN and AWS_ENDPOINT_URL_STS', () => {
    const s = loadSettings({ AWS_ASSUME_ROLE_ARN: A, ROUTE53_ASSUME_ROLE_ARN: `Z1=${B},${D}`, AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:5000/' });
    expect(s.aws).toMatchObject({ assumeRoleArn: A, route53Roles: { defaultRoleArn: D, byZone: { Z1: B } }, stsEndpoint: 'http://127.0.0.1:5000' });
    expect(loadSettings({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5001' }).aws.stsEndpoint).toBe('http://127.0.0.1:5001');
  });

  it.each([
    ['not-an-arn', /ROUTE53_ASSUME_ROLE_ARN: "not-an-arn" \(entry 1 of 1\) is not an IAM role ARN; use arn:aws:iam::<12-digit account id>:role\/<name>/],
    [`Z1=${A},,${D}`, /has an empty entry 2 of 3/],
    [`${A},${D}`, /"arn:aws:iam::333333333333:role\/dns" \(entry 2 of 2\) is a second role without a zone/],
    [`Z1=${A},z1=${B}`, /names hosted zone Z1 a second time/],
    [`example.com=${A}`, /"example.com=.*" \(entry 1 of 1\) does not start with a Route 53 hosted-zone id/],
    ['Z1=arn:aws:iam::1:role/x', /does not name an IAM role ARN after "="/],
  ])('refuses %s with a message that says what to write', (value, message) => {
    const found = problems({ ROUTE53_ASSUME_ROLE_ARN: value });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('AWS_ASSUME_ROLE_ARN must be a role ARN', () => {
    expect(problems({ AWS_ASSUME_ROLE_ARN: 'arn:aws:iam::111111111111:user/bob' })).toEqual([
      'AWS_ASSUME_ROLE_ARN: "arn:aws:iam::111111111111:user/bob" is not an IAM role ARN; use arn:aws:iam::<12-digit account id>:role/<name>',
    ]);
    expect(loadSettings({ AWS_ASSUME_ROLE_ARN: 'arn:aws-us-gov:iam::111111111111:role/a+b=c,d.e@f-g_h' }).aws.assumeRoleArn).toBe('arn:aws-us-gov:iam::111111111111:role/a+b=c,d.e@f-g_h');
  });

  it('normalizes hosted-zone ids as Route 53 and domains.zone_id write them', () => {
    expect(normalizeZoneId('/hostedzone/z1abc')).toBe('Z1ABC');
    expect(normalizeZoneId('hostedzone/Z1ABC')).toBe('Z1ABC');
  });
});

describe('temporary keys in the configuration', () => {
  it('AWS_SESSION_TOKEN goes with the keys, under either name', () => {
    const s = loadSettings({ AWS_ACCESS_KEY: 'ASIAEXAMPLE', AWS_SECRET_KEY: 'secret-example', AWS_SESSION_TOKEN: 'token-example', AWS_REGION_NAME: 'eu-west-1' });
    expect(s.aws).toMatchObject({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret-example', sessionToken: 'token-example', region: 'eu-west-1' });
  });

  it('a session token without keys is refused, without quoting it', () => {
    const found = problems({ AWS_SESSION_TOKEN: 'token-sekret-123' });
    expect(found).toEqual([
      'AWS_SESSION_TOKEN: is set without keys; set AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY) and AWS_SECRET_ACCESS_KEY (or AWS_SECRET_KEY) of the same temporary credentials, or unset it to use the AWS SDK default chain',
    ]);
  });

  it('a malformed session token is refused without quoting it', () => {
    const found = problems({ AWS_ACCESS_KEY_ID: 'ASIA1', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token with sekret spaces' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^AWS_SESSION_TOKEN: the value must not contain spaces/);
    expect(found.join('\n')).not.toContain('sekret');
  });

  it('AWS_PROFILE reaches the settings; with keys set as well, a warning says the keys win', () => {
    expect(loadSettings({ AWS_PROFILE: 'dns-admin' }).aws.profile).toBe('dns-admin');
    const warnings: string[] = [];
    loadSettings({ AWS_PROFILE: 'dns-admin', AWS_ACCESS_KEY: 'AKIA1', AWS_SECRET_KEY: 'secret' }, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual(['AWS_ACCESS_KEY is set, so AWS_PROFILE is ignored: the keys sign every AWS call; unset them to use the profile']);
  });
});
