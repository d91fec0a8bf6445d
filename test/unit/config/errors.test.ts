import { describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from '../../../src/config/index.js';
import { VARIABLES, VARIABLE_NAMES } from '../../../src/config/variables.js';
import { configError, expectProblem } from './helpers.js';

describe('APP_ENV', () => {
  it('refuses an unknown environment, quoting it and listing the choices', () => {
    expectProblem({ APP_ENV: 'qa' }, 'APP_ENV', { includes: ['"qa"', 'local, staging, production'] });
  });

  it('refuses development and suggests local', () => {
    expectProblem({ APP_ENV: 'development' }, 'APP_ENV', { includes: ['"development"', 'use local'] });
  });
});

describe('API_KEY in production', () => {
  it('is required', () => {
    expectProblem({ APP_ENV: 'production' }, 'API_KEY', { includes: ['required when APP_ENV=production', 'at least 16 characters', 'FLASK_SECRET_KEY'] });
  });

  it('must have at least 16 characters, and the short key is never shown', () => {
    expectProblem({ APP_ENV: 'production', API_KEY: 'short-key-15chr' }, 'API_KEY', { includes: ['at least 16 characters'], hidden: ['short-key-15chr'] });
    expectProblem({ FLASK_ENV: 'production', FLASK_SECRET_KEY: 'tiny-secret' }, 'API_KEY', { includes: ['set as FLASK_SECRET_KEY'], hidden: ['tiny-secret'] });
  });

  it('accepts 16 characters, and no key at all outside production', () => {
    expect(loadSettings({ APP_ENV: 'production', API_KEY: '0123456789abcdef' }).apiKey).toBe('0123456789abcdef');
    expect(loadSettings({ APP_ENV: 'staging' }).apiKey).toBeUndefined();
    expect(loadSettings({ APP_ENV: 'local', API_KEY: 'short' }).apiKey).toBe('short');
  });
});

describe('ports', () => {
  it.each(['PORT', 'TLS_PROBE_PORT'])('%s must be 1-65535', (name) => {
    for (const value of ['0', '65536', 'http', '80.5', '-1']) {
      expectProblem({ [name]: value }, name, { includes: [JSON.stringify(value), 'from 1 to 65535'] });
    }
    expect(loadSettings({ [name]: '65535' })).toBeDefined();
  });
});

describe('positive integers', () => {
  it.each(['MAX_DOMAINS_PER_RUN', 'CONCURRENCY', 'RUN_TIMEOUT', 'DNS_PROPAGATION_TIMEOUT', 'ACME_ORDER_BUDGET', 'RENEWAL_WINDOW_DAYS'])('%s must be a whole number of at least 1', (name) => {
    for (const value of ['0', '-3', '1.5', 'ten', '1e3']) {
      expectProblem({ [name]: value }, name, { includes: [JSON.stringify(value), 'whole number of at least 1'] });
    }
  });
});

describe('enumerations', () => {
  it.each([
    ['ACME_KEY_TYPE', 'rsa1024', 'rsa2048, rsa3072, rsa4096, ec256, ec384'],
    ['DNS_PROVIDER', 'route54', 'route53, rfc2136, cloudflare'],
    ['SECRETS_PROVIDER', 'vault', 'aws, file'],
    ['LOG_LEVEL', 'verbose', 'fatal, error, warn, info, debug, trace, silent'],
  ])('%s refuses %s and lists the choices', (name, value, choices) => {
    expectProblem({ [name]: value }, name, { includes: [`"${value}"`, choices] });
  });

  it('hints at the right spelling of near misses', () => {
    expectProblem({ ACME_KEY_TYPE: 'rsa' }, 'ACME_KEY_TYPE', { includes: ['rsa2048, rsa3072 or rsa4096'] });
    expectProblem({ DNS_PROVIDER: 'bind' }, 'DNS_PROVIDER', { includes: ['use rfc2136'] });
  });
});

describe('booleans', () => {
  it.each(['ENABLE_SLACK_NOTIFICATIONS', 'DNS_PROPAGATION_CHECK'])('%s refuses anything but a boolean word', (name) => {
    expectProblem({ [name]: 'maybe' }, name, { includes: ['"maybe"', 'use true or false'] });
  });
});

describe('URLs', () => {
  it.each(['LE_DIRECTORY_URL', 'FASTLY_API_URL', 'CLOUDFLARE_API_URL', 'NOTIFY_WEBHOOK_URL', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_ROUTE_53', 'AWS_ENDPOINT_URL_SECRETS_MANAGER'])('%s must be an http(s) URL', (name) => {
    const extra = name === 'NOTIFY_WEBHOOK_URL' ? { NOTIFY_WEBHOOK_SECRET: 'webhook-secret' } : {};
    expectProblem({ ...extra, [name]: 'not a url' }, name, { includes: ['"not a url"', 'is not a valid URL'] });
    expectProblem({ ...extra, [name]: 'ftp://files.example.com/x' }, name, { includes: ['"ftp://files.example.com/x"', 'http:// or https://'] });
  });

  it('SLACK_WEBHOOK_URL is a secret: refused without being shown', () => {
    expectProblem({ SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T1/B2/secretpart' }, 'SLACK_WEBHOOK_URL', { includes: ['the value is not a valid URL'], hidden: ['secretpart'] });
  });
});

describe('host:port values', () => {
  it('RFC2136_NAMESERVER must be host[:port]', () => {
    expectProblem({ RFC2136_NAMESERVER: 'ns1 example com' }, 'RFC2136_NAMESERVER', { includes: ['"ns1 example com"', 'host or host:port'] });
    expectProblem({ RFC2136_NAMESERVER: '127.0.0.1:99999' }, 'RFC2136_NAMESERVER', { includes: ['invalid port'] });
  });

  it('DNS_RESOLVERS names the bad entry', () => {
    expectProblem({ DNS_RESOLVERS: '8.8.8.8, 1.1.1.1:0' }, 'DNS_RESOLVERS', { includes: ['"1.1.1.1:0"', 'host[:port]'] });
  });

  it('DBHOST must be host[:port]', () => {
    expectProblem({ DBHOST: 'db:port', DBUSER: 'u', DBPWD: 'p', DBNAME: 'n' }, 'DBHOST', { includes: ['"db:port"'] });
  });
});

describe('SCHEDULE', () => {
  it.each(['* * *', 'every day', '61 * * * *', '2030-01-01T00:00:00'])('refuses %s', (value) => {
    expectProblem({ SCHEDULE: value }, 'SCHEDULE', { includes: [JSON.stringify(value), 'not a valid cron expression', '0 3 * * *'] });
  });
});

describe('lists and names', () => {
  it('EXCLUDED_DOMAINS names the bad entry', () => {
    expectProblem({ EXCLUDED_DOMAINS: 'example.com, not a domain' }, 'EXCLUDED_DOMAINS', { includes: ['"not a domain"', 'not a domain name'] });
  });

  it('ACME_EMAIL must be an address', () => {
    expectProblem({ ACME_EMAIL: 'ops.example.com' }, 'ACME_EMAIL', { includes: ['"ops.example.com"', 'name@example.com'] });
  });

  it('tokens must not contain spaces; secret tokens are not shown', () => {
    expectProblem({ FASTLY_API_TOKEN: 'fastly token with spaces' }, 'FASTLY_API_TOKEN', { includes: ['the value must not contain spaces'], hidden: ['fastly token with spaces'] });
    expectProblem({ AWS_REGION: 'us east 1' }, 'AWS_REGION', { includes: ['"us east 1"'] });
  });

  it('RFC2136_TSIG_ALGORITHM must be a TSIG algorithm', () => {
    expectProblem({ RFC2136_TSIG_ALGORITHM: 'sha256' }, 'RFC2136_TSIG_ALGORITHM', { includes: ['"sha256"', 'hmac-sha256.'] });
  });

  it('RFC2136_TSIG_SECRET must be base64, and is not shown', () => {
    expectProblem({ RFC2136_TSIG_SECRET: 'not*base64*secret' }, 'RFC2136_TSIG_SECRET', { includes: ['the value is not base64'], hidden: ['not*base64*secret'] });
  });

  it('LE_ACCOUNT_KEY_SECRET must be a JWK or PEM, and is not shown', () => {
    expectProblem({ LE_ACCOUNT_KEY_SECRET: '{"kty": "EC", broken-secret' }, 'LE_ACCOUNT_KEY_SECRET', { includes: ['not valid JSON'], hidden: ['broken-secret'] });
    expectProblem({ LE_ACCOUNT_KEY_SECRET: 'raw-key-material' }, 'LE_ACCOUNT_KEY_SECRET', { includes: ['JWK JSON object or a PEM'], hidden: ['raw-key-material'] });
    expectProblem({ LE_ACCOUNT_KEY_SECRET: '["array-secret"]' }, 'LE_ACCOUNT_KEY_SECRET', { hidden: ['array-secret'] });
  });

  it('PEM_SECRET_BASE_PATH must not contain spaces', () => {
    expectProblem({ PEM_SECRET_BASE_PATH: 'pem secret' }, 'PEM_SECRET_BASE_PATH', { includes: ['"pem secret"'] });
  });
});

describe('rules across variables', () => {
  it('DNS_PROVIDER=rfc2136 needs the nameserver, TSIG key and TSIG secret', () => {
    const error = configError({ DNS_PROVIDER: 'rfc2136' });
    expect(error.problems).toHaveLength(3);
    for (const name of ['RFC2136_NAMESERVER', 'RFC2136_TSIG_KEY', 'RFC2136_TSIG_SECRET']) {
      expectProblem({ DNS_PROVIDER: 'rfc2136' }, name, { includes: ['required when DNS_PROVIDER=rfc2136'] });
    }
    expect(loadSettings({ DNS_PROVIDER: 'rfc2136', RFC2136_NAMESERVER: 'ns:53', RFC2136_TSIG_KEY: 'k.', RFC2136_TSIG_SECRET: 'c2VjcmV0' }).dns.provider).toBe('rfc2136');
  });

  it('DNS_PROVIDER=cloudflare needs the API token', () => {
    expectProblem({ DNS_PROVIDER: 'cloudflare' }, 'CLOUDFLARE_DNS_API_TOKEN', { includes: ['required when DNS_PROVIDER=cloudflare'] });
  });

  it('Slack enabled needs a webhook URL or both workspace id and key', () => {
    expectProblem({ ENABLE_SLACK_NOTIFICATIONS: 'True' }, 'ENABLE_SLACK_NOTIFICATIONS', { includes: ['SLACK_WEBHOOK_URL', 'SLACK_WORKSPACE_ID and SLACK_WEBHOOK_KEY'] });
    expectProblem({ ENABLE_SLACK_NOTIFICATIONS: 'true', SLACK_WORKSPACE_ID: 'T1' }, 'SLACK_WEBHOOK_KEY', { includes: ['required when ENABLE_SLACK_NOTIFICATIONS=true'] });
    expectProblem({ ENABLE_SLACK_NOTIFICATIONS: 'true', SLACK_WEBHOOK_KEY: 'B1/slack-key-secret' }, 'SLACK_WORKSPACE_ID', { includes: ['required when'], hidden: ['slack-key-secret'] });
    expect(loadSettings({ ENABLE_SLACK_NOTIFICATIONS: 'true', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/K' }).slack.enabled).toBe(true);
    expect(loadSettings({ ENABLE_SLACK_NOTIFICATIONS: 'false' }).slack.enabled).toBe(false);
  });

  it('NOTIFY_WEBHOOK_URL needs NOTIFY_WEBHOOK_SECRET', () => {
    expectProblem({ NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/autotls' }, 'NOTIFY_WEBHOOK_SECRET', { includes: ['required when NOTIFY_WEBHOOK_URL is set'] });
  });

  it('AWS keys come in pairs, and the lone secret is not shown', () => {
    expectProblem({ AWS_ACCESS_KEY: 'AKIAEXAMPLE' }, 'AWS_SECRET_ACCESS_KEY', { includes: ['AWS_SECRET_KEY', 'default chain'] });
    expectProblem({ AWS_SECRET_KEY: 'lone-aws-secret' }, 'AWS_ACCESS_KEY_ID', { includes: ['AWS_ACCESS_KEY'], hidden: ['lone-aws-secret'] });
  });
});

describe('DATABASE_URL', () => {
  it('refuses MySQL with a clear message, without showing the URL', () => {
    for (const url of ['mysql://app:db-password@db/tlstool', 'mysql+pymysql://app:db-password@db/tlstool']) {
      expectProblem({ SQLALCHEMY_DATABASE_URI: url }, 'DATABASE_URL', {
        includes: ['set as SQLALCHEMY_DATABASE_URI', '"mysql"', 'only SQLite', 'PostgreSQL'],
        hidden: ['db-password', url],
      });
    }
  });

  it('refuses what is not a database URL', () => {
    expectProblem({ DATABASE_URL: '/var/lib/autotls.db' }, 'DATABASE_URL', { includes: ['not a database URL'] });
    expectProblem({ DATABASE_URL: 'sqlite://host/x.db' }, 'DATABASE_URL', { includes: ['sqlite:///relative/path.db'] });
    expectProblem({ DATABASE_URL: 'postgresql:///nohost' }, 'DATABASE_URL', { includes: ['names no PostgreSQL host'] });
  });

  it('the DB* variables must be complete when they build the URL', () => {
    const error = configError({ DBUSER: 'app', DBHOST: 'db' });
    expect(error.problems).toHaveLength(2);
    expectProblem({ DBUSER: 'app', DBHOST: 'db', DBPWD: 'incomplete-db-pass' }, 'DBNAME', { includes: ['required when the DB* variables build the database URL', 'DATABASE_URL'], hidden: ['incomplete-db-pass'] });
  });
});

describe('the report', () => {
  it('has one line per bad variable, in schema order, all in one error', () => {
    const error = configError({ APP_ENV: 'development', PORT: '0', DNS_PROVIDER: 'rfc2136', RFC2136_NAMESERVER: 'bad host', SCHEDULE: 'x', CONCURRENCY: '0' });
    const names = error.problems.map((line) => line.split(/[: ]/)[0]);
    expect(names).toEqual(['APP_ENV', 'PORT', 'CONCURRENCY', 'SCHEDULE', 'RFC2136_NAMESERVER', 'RFC2136_TSIG_KEY', 'RFC2136_TSIG_SECRET']);
    expect(new Set(names).size).toBe(names.length);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.name).toBe('ConfigError');
    expect(error.message).toMatch(/^Invalid configuration \(7 problems\):\n {2}- APP_ENV: /);
  });

  it('never contains a secret value, even when a bad non-secret variable repeats it', () => {
    const secrets: Record<string, string> = {
      API_KEY: 'sekret-api-key',
      DBPWD: 'sekret-db-password',
      AWS_SECRET_ACCESS_KEY: 'sekret aws',
      AWS_SESSION_TOKEN: 'sekret session token',
      FASTLY_API_TOKEN: 'sekret fastly',
      LE_ACCOUNT_KEY_SECRET: 'sekret-account-key',
      RFC2136_TSIG_SECRET: 'sekret!tsig',
      CLOUDFLARE_DNS_API_TOKEN: 'sekret cloudflare',
      ACME_EAB_HMAC_KEY: 'sekret eab hmac',
      ACME_FALLBACK_EAB_HMAC_KEY: 'sekret fallback hmac',
      PDNS_API_KEY: 'sekret pdns',
      SLACK_WEBHOOK_URL: 'sekret-slack-url',
      SLACK_WEBHOOK_KEY: 'sekret slack key',
      SLACK_BOT_TOKEN: 'sekret slack bot',
      NOTIFY_WEBHOOK_SECRET: 'sekret-webhook',
      DATABASE_URL: 'mysql://u:sekret-in-url@h/db',
    };
    expect(Object.keys(secrets).sort()).toEqual(VARIABLE_NAMES.filter((name) => VARIABLES[name].secret).sort());
    const error = configError({ ...secrets, APP_ENV: 'production', API_KEY: 'sekret-api', HOST: 'bad host sekret-api', DBUSER: 'u' });
    for (const value of [...Object.values(secrets), 'sekret-api']) expect(error.message).not.toContain(value);
    expect(error.message).toContain('HOST: "bad host [REDACTED]"');
  });
});

describe('ACME_EAB_KID and ACME_EAB_HMAC_KEY', () => {
  it('give account create its External Account Binding', () => {
    expect(loadSettings({ ACME_EAB_KID: 'kid-1', ACME_EAB_HMAC_KEY: 'c2VjcmV0' }).acme.eab).toEqual({ kid: 'kid-1', hmacKey: 'c2VjcmV0' });
    expect(loadSettings({}).acme.eab).toBeUndefined();
  });

  it('go together', () => {
    expect(configError({ ACME_EAB_KID: 'kid-1' }).problems).toEqual([
      'ACME_EAB_HMAC_KEY: required when ACME_EAB_KID is set; set ACME_EAB_HMAC_KEY to the HMAC key the CA issued with that key id',
    ]);
    expect(configError({ ACME_EAB_HMAC_KEY: 'c2VjcmV0' }).problems).toEqual([
      'ACME_EAB_KID: required when ACME_EAB_HMAC_KEY is set; set ACME_EAB_KID to the key id the CA issued with that HMAC key',
    ]);
  });
});

describe('ACME_FALLBACK_*', () => {
  const FALLBACK = { ACME_FALLBACK_DIRECTORY_URL: 'https://acme.zerossl.com/v2/DV90', ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: 'zerossl-account' };

  it('give the second CA its directory, account key secret and External Account Binding', () => {
    expect(loadSettings({ ...FALLBACK, ACME_FALLBACK_EAB_KID: 'kid-2', ACME_FALLBACK_EAB_HMAC_KEY: 'c2VjcmV0' }).acme.fallback).toEqual({
      directoryUrl: 'https://acme.zerossl.com/v2/DV90',
      accountKeySecretName: 'zerossl-account',
      eab: { kid: 'kid-2', hmacKey: 'c2VjcmV0' },
    });
    expect(loadSettings(FALLBACK).acme.fallback?.eab).toBeUndefined();
    expect(loadSettings({}).acme.fallback).toBeUndefined();
  });

  it('need an account key secret name, and EAB key id and HMAC key go together', () => {
    expect(configError({ ACME_FALLBACK_DIRECTORY_URL: 'https://acme.zerossl.com/v2/DV90' }).problems).toEqual([
      'ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: required when ACME_FALLBACK_DIRECTORY_URL is set; set ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME to the secret that holds (or will hold, after autotls account create --fallback) the fallback account key',
    ]);
    expect(configError({ ...FALLBACK, ACME_FALLBACK_EAB_KID: 'kid-2' }).problems).toEqual([
      'ACME_FALLBACK_EAB_HMAC_KEY: required when ACME_FALLBACK_EAB_KID is set; set ACME_FALLBACK_EAB_HMAC_KEY to the HMAC key the fallback CA issued with that key id',
    ]);
    expect(configError({ ...FALLBACK, ACME_FALLBACK_EAB_HMAC_KEY: 'c2VjcmV0' }).problems).toEqual([
      'ACME_FALLBACK_EAB_KID: required when ACME_FALLBACK_EAB_HMAC_KEY is set; set ACME_FALLBACK_EAB_KID to the key id the fallback CA issued with that HMAC key',
    ]);
  });

  it('refuse a fallback that is the primary, or fallback settings without a fallback directory', () => {
    expect(configError({ ...FALLBACK, LE_DIRECTORY_URL: 'https://acme.zerossl.com/v2/DV90' }).problems).toEqual([
      'ACME_FALLBACK_DIRECTORY_URL: is the same directory as LE_DIRECTORY_URL; set it to a second CA, or unset it',
    ]);
    expect(configError({ ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: 'zerossl-account' }).problems).toEqual([
      'ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: is set but ACME_FALLBACK_DIRECTORY_URL is not; set ACME_FALLBACK_DIRECTORY_URL to the fallback CA directory, or unset it',
    ]);
  });
});
