import { describe, expect, it } from 'vitest';
import { describeSettings, loadSettings, secretValues } from '../../../src/config/index.js';

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

describe('describeSettings', () => {
  it('shows no secret, only whether it is set', () => {
    const settings = loadSettings({ ...SECRETS, ENABLE_SLACK_NOTIFICATIONS: 'true' });
    const text = JSON.stringify(describeSettings(settings));
    for (const secret of secretValues(settings)) expect(text).not.toContain(secret);
    expect(text).not.toContain('path-token');
    const summary = describeSettings(settings);
    expect(summary.apiKey).toBe('set');
    expect(summary.database).toEqual({ provider: 'postgresql', url: 'postgresql://app:***@db:5432/autotls' });
    expect(summary.acme.accountKey).toBe('inline');
    expect(summary.notify).toEqual({ slack: 'enabled', webhook: 'https://hooks.example.com/…' });
  });

  it('summarises the defaults', () => {
    const summary = describeSettings(loadSettings({}));
    expect(summary).toMatchObject({ appEnv: 'local', listen: '0.0.0.0:8000', apiKey: 'unset', database: { provider: 'sqlite', url: 'file:./data/autotls.db' } });
    expect(summary.aws.credentials).toBe('default chain');
  });
});
