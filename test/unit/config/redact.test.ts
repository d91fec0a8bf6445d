import { describe, expect, it } from 'vitest';
import { loadSettings, secretValues } from '../../../src/config/index.js';
import { VARIABLES, VARIABLE_NAMES, type VariableName } from '../../../src/config/variables.js';

const SECRETS = {
  API_KEY: 'api-key-0123456789abcdef',
  FASTLY_API_TOKEN: 'fastly-token-abc',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-xyz',
  RFC2136_TSIG_SECRET: 'dHNpZy1zZWNyZXQ=',
  CLOUDFLARE_DNS_API_TOKEN: 'cf-token-123',
  SLACK_WORKSPACE_ID: 'T0001',
  SLACK_WEBHOOK_KEY: 'B0002/slackkey',
  SLACK_BOT_TOKEN: 'xoxb-bot-token',
  NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/autotls/path-token',
  NOTIFY_WEBHOOK_SECRET: 'webhook-hmac-key',
  LE_ACCOUNT_KEY_SECRET: '{"kty":"EC","d":"private-d"}',
  DBUSER: 'app',
  DBPWD: 'db p@ss',
  DBHOST: 'db',
  DBNAME: 'autotls',
};

describe('secretValues', () => {
  it('lists every secret present, including the database password as written and decoded', () => {
    const values = secretValues(loadSettings({ ...SECRETS, APP_ENV: 'production', DNS_PROVIDER: 'rfc2136', RFC2136_NAMESERVER: 'ns', RFC2136_TSIG_KEY: 'k.', ENABLE_SLACK_NOTIFICATIONS: 'true' }));
    for (const secret of ['api-key-0123456789abcdef', 'fastly-token-abc', 'aws-secret-xyz', 'dHNpZy1zZWNyZXQ=', 'cf-token-123', 'xoxb-bot-token', 'webhook-hmac-key', '{"kty":"EC","d":"private-d"}', 'db p@ss', 'db%20p%40ss', 'https://hooks.slack.com/services/T0001/B0002/slackkey', 'T0001/B0002/slackkey']) {
      expect(values).toContain(secret);
    }
    expect(values).not.toContain('AKIAEXAMPLE');
    expect(values.map((v) => v.length)).toEqual([...values.map((v) => v.length)].sort((a, b) => b - a));
  });

  it('is empty by default', () => {
    expect(secretValues(loadSettings({}))).toEqual([]);
  });
});

describe('the secret list comes from the schema', () => {
  // One valid value per variable the schema marks secret; a new secret row fails here until it is added.
  const SAMPLES: Partial<Record<VariableName, { env: Record<string, string>; scrubbed: string[] }>> = {
    API_KEY: { env: { API_KEY: 'sample-api-key-01' }, scrubbed: ['sample-api-key-01'] },
    DATABASE_URL: { env: { DATABASE_URL: 'postgresql://u:sample%2Fpw@db:5432/x' }, scrubbed: ['sample%2Fpw', 'sample/pw'] },
    DBPWD: { env: { DBUSER: 'u', DBPWD: 'sample pw', DBHOST: 'db', DBNAME: 'x' }, scrubbed: ['sample pw', 'sample%20pw'] },
    AWS_SECRET_ACCESS_KEY: { env: { AWS_ACCESS_KEY_ID: 'AKIASAMPLE', AWS_SECRET_ACCESS_KEY: 'sample-aws-secret' }, scrubbed: ['sample-aws-secret'] },
    AWS_SESSION_TOKEN: { env: { AWS_ACCESS_KEY_ID: 'AKIASAMPLE', AWS_SECRET_ACCESS_KEY: 'sample-aws-secret', AWS_SESSION_TOKEN: 'sample-session' }, scrubbed: ['sample-session'] },
    FASTLY_API_TOKEN: { env: { FASTLY_API_TOKEN: 'sample-fastly' }, scrubbed: ['sample-fastly'] },
    LE_ACCOUNT_KEY_SECRET: { env: { LE_ACCOUNT_KEY_SECRET: '{"kty":"EC","d":"sample-d"}' }, scrubbed: ['{"kty":"EC","d":"sample-d"}'] },
    RFC2136_TSIG_SECRET: { env: { RFC2136_TSIG_SECRET: 'c2FtcGxlLXRzaWc=' }, scrubbed: ['c2FtcGxlLXRzaWc='] },
    CLOUDFLARE_DNS_API_TOKEN: { env: { CLOUDFLARE_DNS_API_TOKEN: 'sample-cf' }, scrubbed: ['sample-cf'] },
    ACME_EAB_HMAC_KEY: { env: { ACME_EAB_KID: 'kid-1', ACME_EAB_HMAC_KEY: 'sample-eab-hmac' }, scrubbed: ['sample-eab-hmac'] },
    ACME_FALLBACK_EAB_HMAC_KEY: {
      env: { ACME_FALLBACK_DIRECTORY_URL: 'https://acme.zerossl.com/v2/DV90', ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: 'zerossl-account', ACME_FALLBACK_EAB_KID: 'kid-2', ACME_FALLBACK_EAB_HMAC_KEY: 'sample-fallback-hmac' },
      scrubbed: ['sample-fallback-hmac'],
    },
    PDNS_API_KEY: { env: { PDNS_API_KEY: 'sample-pdns-key' }, scrubbed: ['sample-pdns-key'] },
    SLACK_WEBHOOK_URL: { env: { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T1/B1/sample' }, scrubbed: ['https://hooks.slack.com/services/T1/B1/sample', 'T1/B1/sample'] },
    SLACK_WEBHOOK_KEY: { env: { SLACK_WORKSPACE_ID: 'T2', SLACK_WEBHOOK_KEY: 'B2/sample-key' }, scrubbed: ['T2/B2/sample-key'] },
    SLACK_BOT_TOKEN: { env: { SLACK_BOT_TOKEN: 'xoxb-sample' }, scrubbed: ['xoxb-sample'] },
    NOTIFY_WEBHOOK_SECRET: { env: { NOTIFY_WEBHOOK_SECRET: 'sample-hmac' }, scrubbed: ['sample-hmac'] },
  };

  it('has a sample for exactly the variables marked secret', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(VARIABLE_NAMES.filter((name) => VARIABLES[name].secret).sort());
  });

  it.each(Object.entries(SAMPLES))('%s: its value is scrubbed in every form it takes in Settings', (_name, sample) => {
    const values = secretValues(loadSettings(sample!.env));
    for (const secret of sample!.scrubbed) expect(values).toContain(secret);
  });
});
