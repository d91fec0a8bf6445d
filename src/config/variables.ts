import {
  Invalid,
  parseAccountKey,
  parseBase64Secret,
  parseBoolean,
  parseInteger,
  parseChoice,
  parseSchedule,
  parseDatabaseUrl,
  parseDomainList,
  parseEmail,
  parseHostPort,
  parseHostPortList,
  parseHttpUrl,
  parsePort,
  parsePositiveInteger,
  parseSecretBasePath,
  parseToken,
  parseTsigAlgorithm,
  type Parser,
} from './parsers.js';
import { parseRoleArn, parseRoute53Roles } from '../aws/roles.js';
import { anyText, variable, type VariableSpec } from './variable.js';

/** The password inside a PostgreSQL URL, as written and decoded (DATABASE_URL, or the one composed from DBPWD). */
function databasePassword(url: string): string[] {
  if (!url.startsWith('postgresql://')) return [];
  try {
    const { password } = new URL(url);
    return password.length === 0 ? [] : [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}

/** A Slack webhook URL and its secret part, everything after `/services/` (given whole, or composed from the key). */
function slackWebhook(url: string | undefined): string[] {
  if (url === undefined) return [];
  const marker = '/services/';
  const at = url.indexOf(marker);
  return at === -1 ? [url] : [url, url.slice(at + marker.length)];
}

export const APP_ENVS = ['local', 'staging', 'production'] as const;
export const KEY_TYPES = ['rsa2048', 'rsa3072', 'rsa4096', 'ec256', 'ec384'] as const;
export const DNS_PROVIDERS = ['route53', 'rfc2136', 'cloudflare', 'pdns'] as const;
export const SECRETS_PROVIDERS = ['aws', 'file'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Minimum API key length in production. */
export const MIN_PRODUCTION_API_KEY_LENGTH = 16;

/** Unset DATABASE_URL (and no DB* variables): the embedded SQLite database. */
export const DEFAULT_DATABASE = { url: 'file:./data/autotls.db', provider: 'sqlite' } as const;

const LE_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

const parseRenewalWindow: Parser<{ days: number; explicit: boolean }> = (raw) => {
  const days = parsePositiveInteger(raw);
  return days instanceof Invalid ? days : { days, explicit: true };
};

/** Every environment variable AutoTLS reads, by group (see `GROUPS` in ./variable.ts). */
export const VARIABLES = {
  // Service
  APP_ENV: variable({
    group: 'service',
    aliases: ['FLASK_ENV'],
    description: 'local, staging or production; testmode (no Fastly upload) is forced in local and staging',
    default: 'local',
    parse: parseChoice(APP_ENVS, {
      development: 'is the Flask name for a developer machine; use local (or staging / production)',
      dev: 'is not supported; use local (or staging / production)',
      prod: 'is not supported; use production',
      test: 'is not supported; use local or staging',
    }),
  }),
  API_KEY: variable({
    group: 'service',
    aliases: ['FLASK_SECRET_KEY'],
    description: `API key sent as Flask-Key or Authorization: Bearer; required in production (at least ${MIN_PRODUCTION_API_KEY_LENGTH} characters)`,
    secret: (s) => [s.apiKey],
    parse: anyText,
  }),
  PORT: variable({ group: 'service', description: 'TCP port of the HTTP service', default: 8000, parse: parsePort }),
  HOST: variable({ group: 'service', description: 'Address the HTTP service listens on', default: '0.0.0.0', parse: parseToken('an address such as 0.0.0.0 or 127.0.0.1') }),
  LOG_LEVEL: variable({ group: 'service', description: `Log level: ${LOG_LEVELS.join(', ')}`, default: 'info', parse: parseChoice(LOG_LEVELS) }),

  // Database
  DATABASE_URL: variable({
    group: 'database',
    aliases: ['SQLALCHEMY_DATABASE_URI'],
    description:
      'file:/sqlite: URL for SQLite (sqlite:///rel.db, sqlite:////abs.db) or postgres(ql)[+driver]:// for PostgreSQL. Given as SQLALCHEMY_DATABASE_URI, a relative sqlite:/// path is under ./instance/, as Flask-SQLAlchemy 3 reads it',
    // May carry a password, so it is never quoted.
    secret: (s) => databasePassword(s.database.url),
    defaultText: DEFAULT_DATABASE.url,
    example: DEFAULT_DATABASE.url,
    parse: parseDatabaseUrl,
  }),
  DBUSER: variable({ group: 'database', description: 'PostgreSQL user, used with DBPWD, DBHOST and DBNAME when no database URL is set', parse: anyText }),
  DBPWD: variable({ group: 'database', description: 'PostgreSQL password for DBUSER (URL-encoded for you)', secret: (s) => databasePassword(s.database.url), parse: anyText }),
  DBHOST: variable({ group: 'database', description: 'PostgreSQL host, optionally host:port (port 5432 when omitted)', parse: parseHostPort(5432) }),
  DBNAME: variable({ group: 'database', description: 'PostgreSQL database name', parse: anyText }),

  // AWS
  AWS_ACCESS_KEY_ID: variable({ group: 'aws', aliases: ['AWS_ACCESS_KEY'], description: 'AWS access key id; set with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys) or not at all', defaultText: 'AWS SDK default chain', parse: parseToken('the access key id exactly as AWS issued it') }),
  AWS_SECRET_ACCESS_KEY: variable({ group: 'aws', aliases: ['AWS_SECRET_KEY'], description: 'AWS secret access key', secret: (s) => [s.aws.secretAccessKey], defaultText: 'AWS SDK default chain', parse: parseToken('the secret access key exactly as AWS issued it') }),
  AWS_SESSION_TOKEN: variable({ group: 'aws', description: 'Session token of temporary keys (SSO, aws-vault, STS); sent with every AWS call', secret: (s) => [s.aws.sessionToken], parse: parseToken('the session token exactly as AWS issued it') }),
  AWS_PROFILE: variable({ group: 'aws', description: 'Profile of the shared AWS config and credentials files (SSO, credential_process, role profiles); used when no keys are set', defaultText: 'AWS SDK default chain', parse: parseToken('a profile name from ~/.aws/config') }),
  AWS_REGION: variable({ group: 'aws', aliases: ['AWS_REGION_NAME'], description: 'AWS region', default: 'us-east-1', parse: parseToken('a region name such as us-east-1') }),
  AWS_ASSUME_ROLE_ARN: variable({ group: 'aws', description: 'IAM role assumed (STS AssumeRole, session autotls) for every AWS call', parse: parseRoleArn }),
  ROUTE53_ASSUME_ROLE_ARN: variable({ group: 'aws', description: 'IAM role for Route 53 calls only (cross-account DNS), assumed after AWS_ASSUME_ROLE_ARN: one ARN, or comma-separated <hosted-zone-id>=<ARN> entries plus at most one ARN for every other zone', defaultText: 'none', parse: parseRoute53Roles }),
  AWS_ENDPOINT_URL: variable({ group: 'aws', description: 'Endpoint for every AWS service (e.g. moto_server), unless a service-specific one is set', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),
  AWS_ENDPOINT_URL_ROUTE_53: variable({ group: 'aws', description: 'Route 53 endpoint', defaultText: 'AWS_ENDPOINT_URL, else AWS', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),
  AWS_ENDPOINT_URL_SECRETS_MANAGER: variable({ group: 'aws', description: 'Secrets Manager endpoint', defaultText: 'AWS_ENDPOINT_URL, else AWS', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),
  AWS_ENDPOINT_URL_STS: variable({ group: 'aws', description: 'STS endpoint, for the AssumeRole calls of AWS_ASSUME_ROLE_ARN and ROUTE53_ASSUME_ROLE_ARN', defaultText: 'AWS_ENDPOINT_URL, else AWS (regional)', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),

  // Fastly
  FASTLY_API_TOKEN: variable({ group: 'fastly', description: 'Fastly API token with TLS management rights', secret: (s) => [s.fastly.apiToken], parse: parseToken('the token exactly as Fastly issued it') }),
  FASTLY_TLS_CONFIGURATION_ID: variable({ group: 'fastly', description: 'Fastly TLS configuration id for new bulk certificates', parse: parseToken('the id shown by Fastly') }),
  FASTLY_ALLOW_UNTRUSTED_ROOT: variable({ group: 'fastly', description: 'Let Fastly accept chains to a root it does not trust (private CAs, tests)', default: false, parse: parseBoolean }),
  FASTLY_API_URL: variable({ group: 'fastly', description: 'Base URL of the Fastly API', default: 'https://api.fastly.com', parse: parseHttpUrl({ example: 'https://api.fastly.com', base: true }) }),

  // ACME
  LE_DIRECTORY_URL: variable({ group: 'acme', description: 'ACME directory URL (production: https://acme-v02.api.letsencrypt.org/directory); a private CA is trusted via NODE_EXTRA_CA_CERTS', default: LE_STAGING, parse: parseHttpUrl({ example: LE_STAGING }) }),
  LE_ACCOUNT_KEY_SECRET_NAME: variable({ group: 'acme', description: 'Name of the secret holding the ACME account key (JWK JSON or PEM)', parse: parseToken('a secret name such as le-account-key') }),
  LE_ACCOUNT_KEY_SECRET: variable({ group: 'acme', description: 'The account key inline (JWK JSON or PEM), used when no secret name is set; empty or {} means unset', secret: (s) => [s.acme.accountKeyInline], parse: parseAccountKey }),
  ACME_EMAIL: variable({ group: 'acme', description: 'Contact address for autotls account create', parse: parseEmail }),
  ACME_EAB_KID: variable({ group: 'acme', description: 'External Account Binding key id, for CAs that require it (ZeroSSL, Google Trust Services, SSL.com, Sectigo); used by autotls account create', parse: parseToken('the EAB key id exactly as the CA issued it') }),
  ACME_EAB_HMAC_KEY: variable({ group: 'acme', description: 'External Account Binding HMAC key (base64url), with ACME_EAB_KID', secret: (s) => [s.acme.eab?.hmacKey], parse: parseToken('the EAB HMAC key exactly as the CA issued it (base64url)') }),
  ACME_FALLBACK_DIRECTORY_URL: variable({ group: 'acme', description: 'A second ACME CA, used for a domain only when the first cannot issue in time: LE_DIRECTORY_URL unreachable, its account paused for an account-wide rate limit, or the certificate within a sixth of its lifetime of expiry after failures there (docs/operations.md)', parse: parseHttpUrl({ example: 'https://acme.zerossl.com/v2/DV90' }) }),
  ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: variable({ group: 'acme', description: 'Name of the secret holding the fallback CA account key (JWK JSON or PEM); written by autotls account create --fallback', parse: parseToken('a secret name such as zerossl-account-key') }),
  ACME_FALLBACK_EAB_KID: variable({ group: 'acme', description: 'External Account Binding key id at the fallback CA; used by autotls account create --fallback', parse: parseToken('the EAB key id exactly as the fallback CA issued it') }),
  ACME_FALLBACK_EAB_HMAC_KEY: variable({ group: 'acme', description: 'External Account Binding HMAC key (base64url) at the fallback CA, with ACME_FALLBACK_EAB_KID', secret: (s) => [s.acme.fallback?.eab?.hmacKey], parse: parseToken('the EAB HMAC key exactly as the fallback CA issued it (base64url)') }),
  ACME_PROFILE: variable({ group: 'acme', description: 'ACME profile (classic, tlsserver, shortlived) when the CA offers profiles', parse: parseToken('a profile name such as classic') }),
  ACME_KEY_TYPE: variable({ group: 'acme', description: `Certificate key type: ${KEY_TYPES.join(', ')}`, default: 'rsa2048', parse: parseChoice(KEY_TYPES, { rsa: 'is ambiguous; use rsa2048, rsa3072 or rsa4096', ec: 'is ambiguous; use ec256 or ec384', ecdsa: 'is ambiguous; use ec256 or ec384' }) }),
  ACME_ORDER_BUDGET: variable({ group: 'acme', description: 'New orders allowed per ACME account in any 3 hours, shared by all instances', default: 300, parse: parsePositiveInteger }),

  // Renewal
  RENEWAL_WINDOW_DAYS: variable({ group: 'renewal', description: 'Days before expiry to renew when neither ARI nor a lifetime fraction applies', default: { days: 15, explicit: false }, defaultText: '15', example: '15', parse: parseRenewalWindow }),
  EXCLUDED_DOMAINS: variable({ group: 'renewal', description: 'Comma-separated domain names that are never processed', default: [] as string[], parse: parseDomainList }),
  MAX_DOMAINS_PER_RUN: variable({ group: 'renewal', description: 'Most domains one run processes', default: 10, parse: parsePositiveInteger }),
  CONCURRENCY: variable({ group: 'renewal', description: 'Domains processed in parallel', default: 5, parse: parsePositiveInteger }),
  RUN_TIMEOUT: variable({ group: 'renewal', description: 'Deadline of one run in seconds; remaining domains are deferred', default: 900, parse: parsePositiveInteger }),
  LEASE_TTL_SECONDS: variable({ group: 'renewal', description: 'How long a domain lease lasts without renewal before another instance may take the domain over', default: 300, parse: parseInteger(5, 86_400, 'a number of seconds from 5 to 86400') }),
  SHUTDOWN_TIMEOUT: variable({ group: 'renewal', description: 'Seconds in-flight domains get to finish after SIGTERM', default: 30, parse: parseInteger(1, 3600, 'a number of seconds from 1 to 3600') }),
  SCHEDULE: variable({
    group: 'renewal',
    description:
      'Cron expression (e.g. 0 3 * * *); when set, the service triggers its own runs. `continuous`: the service wakes at each pending event (renewal time, ARI check, end of a backoff, budget refill) and processes everything due',
    parse: parseSchedule,
  }),
  TLS_PROBE_HOST: variable({ group: 'renewal', description: 'Where the live-certificate probe connects (SNI is always the domain)', defaultText: 'the domain itself', parse: parseToken('a host name or address') }),
  TLS_PROBE_PORT: variable({ group: 'renewal', description: 'Port of the live-certificate probe', default: 443, parse: parsePort }),

  // DNS
  DNS_PROVIDER: variable({ group: 'dns', description: `Where challenge records go: ${DNS_PROVIDERS.join(', ')}`, default: 'route53', parse: parseChoice(DNS_PROVIDERS, { route_53: 'is not supported; use route53', aws: 'is not supported; use route53', bind: 'is not supported; use rfc2136', cf: 'is not supported; use cloudflare', powerdns: 'is not supported; use pdns' }) }),
  RFC2136_NAMESERVER: variable({ group: 'dns', description: 'host:port of the primary that accepts dynamic updates (port 53 when omitted)', parse: parseHostPort(53) }),
  RFC2136_TSIG_KEY: variable({ group: 'dns', description: 'TSIG key name for dynamic updates', parse: parseToken('the key name, e.g. autotls-key.') }),
  RFC2136_TSIG_SECRET: variable({ group: 'dns', description: 'TSIG secret (base64)', secret: (s) => [s.dns.rfc2136.tsigSecret], parse: parseBase64Secret }),
  RFC2136_TSIG_ALGORITHM: variable({ group: 'dns', description: 'TSIG algorithm', default: 'hmac-sha256.', parse: parseTsigAlgorithm }),
  CLOUDFLARE_DNS_API_TOKEN: variable({ group: 'dns', description: 'Cloudflare API token with Zone.DNS edit rights', secret: (s) => [s.dns.cloudflare.apiToken], parse: parseToken('the token exactly as Cloudflare issued it') }),
  CLOUDFLARE_API_URL: variable({ group: 'dns', description: 'Base URL of the Cloudflare API', default: 'https://api.cloudflare.com/client/v4', parse: parseHttpUrl({ example: 'https://api.cloudflare.com/client/v4', base: true }) }),
  PDNS_API_URL: variable({ group: 'dns', description: 'Base URL of the PowerDNS HTTP API (its webserver), e.g. http://127.0.0.1:8081; /api/v1 is added when absent', parse: parseHttpUrl({ example: 'http://127.0.0.1:8081', base: true }) }),
  PDNS_API_KEY: variable({ group: 'dns', description: 'PowerDNS API key (the server\'s api-key), sent as X-API-Key', secret: (s) => [s.dns.pdns.apiKey], parse: parseToken('the api-key set in the PowerDNS configuration') }),
  PDNS_SERVER_NAME: variable({ group: 'dns', description: 'PowerDNS server id in the API path /api/v1/servers/<id>', default: 'localhost', parse: parseToken('the server id, normally localhost') }),
  DNS_RESOLVERS: variable({ group: 'dns', description: 'Comma-separated host[:port] resolvers used to find the authoritative nameservers (and CNAMEs) of the challenge name, which are then asked for the TXT record (port 53 when omitted)', default: [] as string[], defaultText: 'the system resolvers', parse: parseHostPortList(53) }),
  DNS_PROPAGATION_TIMEOUT: variable({ group: 'dns', description: 'Seconds to wait for the TXT record to propagate', default: 120, parse: parsePositiveInteger }),
  DNS_PROPAGATION_CHECK: variable({ group: 'dns', description: 'Wait until the TXT record is visible before asking the CA to validate', default: true, parse: parseBoolean }),

  // Secrets
  SECRETS_PROVIDER: variable({ group: 'secrets', description: `Where key material is stored: ${SECRETS_PROVIDERS.join(', ')}`, default: 'aws', parse: parseChoice(SECRETS_PROVIDERS, { secretsmanager: 'is not supported; use aws', files: 'is not supported; use file' }) }),
  SECRETS_DIR: variable({ group: 'secrets', description: 'Directory of the file provider (files are mode 0600, written atomically)', default: './data/secrets', parse: anyText }),
  PEM_SECRET_BASE_PATH: variable({ group: 'secrets', description: 'Secret name prefix: <base>/<domain>/private_key, fullchain and csr', default: 'pem-secret', parse: parseSecretBasePath }),

  // Notifications
  ENABLE_SLACK_NOTIFICATIONS: variable({ group: 'notify', description: 'Send run reports to Slack', default: false, parse: parseBoolean }),
  SLACK_WEBHOOK_URL: variable({ group: 'notify', description: 'Full Slack webhook URL; takes precedence over SLACK_WORKSPACE_ID and SLACK_WEBHOOK_KEY', secret: (s) => slackWebhook(s.slack.webhookUrl), parse: parseHttpUrl({ example: 'https://hooks.slack.com/services/T000/B000/XXXX' }) }),
  SLACK_WORKSPACE_ID: variable({ group: 'notify', description: 'Slack workspace id: the webhook is https://hooks.slack.com/services/<WORKSPACE_ID>/<WEBHOOK_KEY>', parse: parseToken('the id from the webhook URL, e.g. T0000000') }),
  SLACK_WEBHOOK_KEY: variable({ group: 'notify', description: 'The rest of the Slack webhook URL after the workspace id', secret: (s) => slackWebhook(s.slack.webhookUrl), parse: parseToken('the part of the webhook URL after the workspace id') }),
  SLACK_BOT_TOKEN: variable({ group: 'notify', description: 'Slack bot token (accepted for compatibility)', secret: (s) => [s.slack.botToken], parse: parseToken('the token exactly as Slack issued it') }),
  NOTIFY_WEBHOOK_URL: variable({ group: 'notify', description: 'Generic JSON webhook for run reports, signed with HMAC-SHA256 in X-AutoTLS-Signature', parse: parseHttpUrl({ example: 'https://hooks.example.com/autotls' }) }),
  NOTIFY_WEBHOOK_SECRET: variable({ group: 'notify', description: 'HMAC-SHA256 key for NOTIFY_WEBHOOK_URL', secret: (s) => [s.webhook.secret], parse: anyText }),
};

export type VariableName = keyof typeof VARIABLES;

/** Python AutoTLS (Flask) variables that are accepted and ignored. */
export const IGNORED_LEGACY_VARIABLES = [
  'FLASK_APP',
  'FLASK_DEBUG',
  'APPLICATION_ROOT',
  'SESSION_COOKIE_PATH',
  'SQLALCHEMY_TRACK_MODIFICATIONS',
  'LOG_FORMAT',
] as const;

export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];

export function variableSpec(name: VariableName): VariableSpec<unknown> {
  return VARIABLES[name] as VariableSpec<unknown>;
}

/** `API_KEY (or FLASK_SECRET_KEY)`: how to refer to a variable the operator has to set. */
export function nameWithAliases(name: VariableName): string {
  const aliases = variableSpec(name).aliases;
  return aliases.length === 0 ? name : `${name} (or ${aliases.join(' or ')})`;
}
