import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../../src/config/dotenv-file.js';
import { loadSettings, type Settings } from '../../../src/config/index.js';
import { PYTHON_ENV_EXAMPLE, PYTHON_ENV_FILLED } from './helpers.js';

const DEFAULTS: Settings = {
  appEnv: 'local',
  apiKey: undefined,
  port: 8000,
  host: '0.0.0.0',
  logLevel: 'info',
  database: { url: 'file:./data/autotls.db', provider: 'sqlite' },
  aws: { region: 'us-east-1', accessKeyId: undefined, secretAccessKey: undefined, route53Endpoint: undefined, secretsManagerEndpoint: undefined },
  fastly: { apiToken: undefined, tlsConfigurationId: undefined, apiUrl: 'https://api.fastly.com', allowUntrustedRoot: false },
  acme: {
    directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
    accountKeySecretName: undefined,
    accountKeyInline: undefined,
    email: undefined,
    eab: undefined,
    fallback: undefined,
    profile: undefined,
    keyType: 'rsa2048',
    orderBudget: 300,
  },
  slack: { enabled: false, webhookUrl: undefined, botToken: undefined },
  webhook: { url: undefined, secret: undefined },
  pemSecretBasePath: 'pem-secret',
  renewal: { windowDays: 15, windowExplicit: false },
  excludedDomains: [],
  maxDomainsPerRun: 10,
  concurrency: 5,
  dns: {
    provider: 'route53',
    rfc2136: { nameserver: undefined, tsigKey: undefined, tsigSecret: undefined, tsigAlgorithm: 'hmac-sha256.' },
    cloudflare: { apiToken: undefined, apiUrl: 'https://api.cloudflare.com/client/v4' },
    pdns: { apiUrl: undefined, apiKey: undefined, serverName: 'localhost' },
    resolvers: [],
    propagationTimeoutSeconds: 120,
    propagationCheck: true,
  },
  secrets: { provider: 'aws', dir: './data/secrets' },
  probe: { host: undefined, port: 443 },
  runTimeoutSeconds: 900,
  leaseTtlSeconds: 300,
  shutdownTimeoutSeconds: 30,
  schedule: undefined,
};

describe('defaults', () => {
  it('an empty environment gives the documented defaults', () => {
    expect(loadSettings({})).toEqual(DEFAULTS);
  });

  it('empty and blank values count as unset', () => {
    const env = Object.fromEntries(
      ['APP_ENV', 'API_KEY', 'PORT', 'DATABASE_URL', 'ENABLE_SLACK_NOTIFICATIONS', 'RENEWAL_WINDOW_DAYS', 'DNS_PROVIDER', 'SCHEDULE', 'EXCLUDED_DOMAINS'].map((name) => [name, '  ']),
    );
    expect(loadSettings({ ...env, HOST: '' })).toEqual(DEFAULTS);
  });

  it('RENEWAL_WINDOW_DAYS marks the window explicit only when given', () => {
    expect(loadSettings({ RENEWAL_WINDOW_DAYS: '15' }).renewal).toEqual({ windowDays: 15, windowExplicit: true });
    expect(loadSettings({ RENEWAL_WINDOW_DAYS: '30' }).renewal).toEqual({ windowDays: 30, windowExplicit: true });
    expect(loadSettings({ RENEWAL_WINDOW_DAYS: '' }).renewal).toEqual({ windowDays: 15, windowExplicit: false });
  });

  it('unknown variables, including the Flask-only ones, are ignored', () => {
    expect(loadSettings({ FLASK_APP: 'tlstool', FLASK_DEBUG: 'True', APPLICATION_ROOT: '/', SESSION_COOKIE_PATH: '/', SQLALCHEMY_TRACK_MODIFICATIONS: 'x', LOG_FORMAT: '%(message)s', SOMETHING_ELSE: '1' })).toEqual(DEFAULTS);
  });
});

describe('value forms', () => {
  it.each([
    ['True', true], ['true', true], ['TRUE', true], ['1', true], ['yes', true], ['on', true],
    ['False', false], ['false', false], ['0', false], ['no', false], ['off', false],
  ])('boolean %s is %s', (text, value) => {
    expect(loadSettings({ DNS_PROPAGATION_CHECK: text }).dns.propagationCheck).toBe(value);
  });

  it('enumerations are case-insensitive', () => {
    const s = loadSettings({ APP_ENV: 'Staging', DNS_PROVIDER: 'CloudFlare', CLOUDFLARE_DNS_API_TOKEN: 'cf-token', ACME_KEY_TYPE: 'EC256', SECRETS_PROVIDER: 'FILE', LOG_LEVEL: 'Debug' });
    expect([s.appEnv, s.dns.provider, s.acme.keyType, s.secrets.provider, s.logLevel]).toEqual(['staging', 'cloudflare', 'ec256', 'file', 'debug']);
  });

  it('EXCLUDED_DOMAINS is trimmed, lower-cased, without empty items or trailing dots', () => {
    expect(loadSettings({ EXCLUDED_DOMAINS: ' Example.COM , ,foo.example.org.,bar.net ' }).excludedDomains).toEqual(['example.com', 'foo.example.org', 'bar.net']);
  });

  it('EXCLUDED_DOMAINS is checked by the API\'s domain validator: IDNs as A-labels, no single labels or addresses', () => {
    expect(loadSettings({ EXCLUDED_DOMAINS: 'Bücher.example' }).excludedDomains).toEqual(['xn--bcher-kva.example']);
    for (const bad of ['localhost', '192.0.2.1', 'a_b.example']) {
      expect(() => loadSettings({ EXCLUDED_DOMAINS: bad })).toThrow(/EXCLUDED_DOMAINS: .*not a domain name/);
    }
  });

  it('DNS_RESOLVERS gets port 53 when omitted, IPv6 in brackets', () => {
    expect(loadSettings({ DNS_RESOLVERS: '127.0.0.1:5353, 8.8.8.8, [::1]:5300, 2001:db8::1, ns1.example.com' }).dns.resolvers).toEqual([
      '127.0.0.1:5353', '8.8.8.8:53', '[::1]:5300', '[2001:db8::1]:53', 'ns1.example.com:53',
    ]);
  });

  it('RFC2136 settings are normalised', () => {
    const s = loadSettings({ DNS_PROVIDER: 'rfc2136', RFC2136_NAMESERVER: '127.0.0.1', RFC2136_TSIG_KEY: 'autotls-key.', RFC2136_TSIG_SECRET: 'c2VjcmV0c2VjcmV0c2VjcmV0', RFC2136_TSIG_ALGORITHM: 'HMAC-SHA512' });
    expect(s.dns.rfc2136).toEqual({ nameserver: '127.0.0.1:53', tsigKey: 'autotls-key.', tsigSecret: 'c2VjcmV0c2VjcmV0c2VjcmV0', tsigAlgorithm: 'hmac-sha512.' });
  });

  it('base URLs lose their trailing slash; the ACME directory is kept as given', () => {
    const s = loadSettings({ FASTLY_API_URL: 'http://127.0.0.1:8080/', CLOUDFLARE_API_URL: 'https://cf.test/client/v4/', LE_DIRECTORY_URL: 'https://localhost:14000/dir/' });
    expect([s.fastly.apiUrl, s.dns.cloudflare.apiUrl, s.acme.directoryUrl]).toEqual(['http://127.0.0.1:8080', 'https://cf.test/client/v4', 'https://localhost:14000/dir/']);
  });

  it('AWS endpoints: service-specific first, AWS_ENDPOINT_URL as fallback', () => {
    expect(loadSettings({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }).aws).toMatchObject({ route53Endpoint: 'http://127.0.0.1:5000', secretsManagerEndpoint: 'http://127.0.0.1:5000' });
    expect(loadSettings({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_ENDPOINT_URL_ROUTE_53: 'http://127.0.0.1:5001', AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:5002' }).aws).toMatchObject({
      route53Endpoint: 'http://127.0.0.1:5001',
      secretsManagerEndpoint: 'http://127.0.0.1:5002',
    });
  });

  it('Slack webhook: built from workspace id and key, SLACK_WEBHOOK_URL wins', () => {
    const parts = { ENABLE_SLACK_NOTIFICATIONS: 'true', SLACK_WORKSPACE_ID: 'T0001', SLACK_WEBHOOK_KEY: 'B0002/XXXXYYYY' };
    expect(loadSettings(parts).slack).toEqual({ enabled: true, webhookUrl: 'https://hooks.slack.com/services/T0001/B0002/XXXXYYYY', botToken: undefined });
    expect(loadSettings({ ...parts, SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T9/B9/ZZZZ' }).slack.webhookUrl).toBe('https://hooks.slack.com/services/T9/B9/ZZZZ');
  });

  it('LE_ACCOUNT_KEY_SECRET: empty and {} are unset, JWK JSON and PEM are kept', () => {
    expect(loadSettings({ LE_ACCOUNT_KEY_SECRET: '{}' }).acme.accountKeyInline).toBeUndefined();
    expect(loadSettings({ LE_ACCOUNT_KEY_SECRET: ' { } ' }).acme.accountKeyInline).toBeUndefined();
    expect(loadSettings({ LE_ACCOUNT_KEY_SECRET: '' }).acme.accountKeyInline).toBeUndefined();
    const jwk = '{"kty":"EC","crv":"P-256","x":"x","y":"y","d":"d"}';
    expect(loadSettings({ LE_ACCOUNT_KEY_SECRET: jwk }).acme.accountKeyInline).toBe(jwk);
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----';
    expect(loadSettings({ LE_ACCOUNT_KEY_SECRET: pem }).acme.accountKeyInline).toBe(pem);
  });

  it('SCHEDULE accepts five- and six-field cron expressions and nicknames', () => {
    for (const schedule of ['0 3 * * *', '*/15 * * * *', '0 0 3 * * *', '@daily']) {
      expect(loadSettings({ SCHEDULE: schedule }).schedule).toBe(schedule);
    }
  });

  it('ACME_EMAIL drops a mailto: prefix', () => {
    expect(loadSettings({ ACME_EMAIL: 'mailto:ops@example.com' }).acme.email).toBe('ops@example.com');
  });

  it('PEM_SECRET_BASE_PATH loses trailing slashes', () => {
    expect(loadSettings({ PEM_SECRET_BASE_PATH: 'prod/pem-secret/' }).pemSecretBasePath).toBe('prod/pem-secret');
  });
});

describe('the Python AutoTLS .env.example', () => {
  it('loads as shipped', () => {
    const s = loadSettings(parseDotenv(PYTHON_ENV_EXAMPLE));
    expect(s).toEqual({
      ...DEFAULTS,
      // As the original reads it: Flask-SQLAlchemy 3 resolves the relative path in its instance folder (issue 14 item 9).
      database: { url: 'file:./instance/instance/tlstool.db', provider: 'sqlite' },
      renewal: { windowDays: 15, windowExplicit: true },
    });
  });

  it('loads filled in for production, with the DB* variables building the URL', () => {
    const warnings: string[] = [];
    const s = loadSettings(parseDotenv(PYTHON_ENV_FILLED), { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expect(s.appEnv).toBe('production');
    expect(s.apiKey).toBe('7f3c9a1e5b2d8f4a6c0e1b3d5f7a9c2e');
    // User and password URL-encoded; the unquoted `#` is part of the password, as python-dotenv read it.
    expect(s.database).toEqual({ url: 'postgresql://tlstool:p%40ss%3Aw%2Frd%231@db.internal.example.com:5432/autotls', provider: 'postgresql' });
    expect(s.aws).toEqual({
      region: 'us-west-2',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      route53Endpoint: undefined,
      secretsManagerEndpoint: undefined,
    });
    expect(s.fastly).toEqual({ apiToken: 'fastly-token-0123456789', tlsConfigurationId: 't1sC0nf1g', apiUrl: 'https://api.fastly.com', allowUntrustedRoot: false });
    expect(s.acme).toMatchObject({ directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory', accountKeySecretName: 'letsencrypt/account-key', accountKeyInline: undefined });
    expect(s.slack).toEqual({
      enabled: true,
      webhookUrl: 'https://hooks.slack.com/services/T01234567/B01234567/abcdefghijklmnopqrstuvwx',
      botToken: 'xoxb-1234-5678-abcdef',
    });
    expect(s.pemSecretBasePath).toBe('pem-secret');
    expect(s.renewal).toEqual({ windowDays: 20, windowExplicit: true });
  });
});
