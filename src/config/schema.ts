import { z } from 'zod';
import type { Settings } from './settings.js';
import {
  Invalid,
  composePostgresUrl,
  flaskSqlalchemyUri,
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

/**
 * The one description of AutoTLS's configuration. Every environment variable
 * is a row of `VARIABLES`: its canonical name (the key), the names it is also
 * accepted under, its default, a one-line description, whether it is a secret,
 * and the zod type that turns its string into a typed value. The rows are
 * assembled into `environmentSchema`, which adds the rules that span several
 * variables and produces `Settings`. `.env.example` and
 * `docs/configuration.md` are generated from the same rows
 * (scripts/gen-config-docs.ts), so they cannot disagree with the code.
 */

export const GROUPS = [
  { id: 'service', title: 'Service', intro: 'The HTTP service and its API key.' },
  { id: 'database', title: 'Database', intro: 'SQLite (the default) or PostgreSQL. The DB* variables are the Python AutoTLS way of naming a PostgreSQL server and apply only when no database URL is set.' },
  { id: 'aws', title: 'AWS', intro: 'Route 53 and Secrets Manager. Keys, when set, sign every call together with AWS_SESSION_TOKEN; without keys, the AWS SDK default credential chain applies (AWS_PROFILE and SSO, web identity, ECS/EKS container and EC2 instance roles). Roles are assumed with STS AssumeRole (session name autotls), shared by both services and refreshed before they expire; see docs/operations.md.' },
  { id: 'fastly', title: 'Fastly', intro: 'Fastly Platform TLS, where certificates are uploaded.' },
  { id: 'acme', title: 'ACME (Let\'s Encrypt)', intro: 'The certificate authority and the ACME account.' },
  { id: 'renewal', title: 'Renewal runs', intro: 'Which domains a run takes, how many, and when.' },
  { id: 'dns', title: 'DNS-01 challenges', intro: 'Where the _acme-challenge TXT records are published, and how their propagation is checked.' },
  { id: 'secrets', title: 'Secrets storage', intro: 'Where private keys, certificates and CSRs are kept.' },
  { id: 'notify', title: 'Notifications', intro: 'Slack and a generic signed JSON webhook.' },
] as const;

export type GroupId = (typeof GROUPS)[number]['id'];

/** One environment variable. `T` is its typed value once parsed (defaults applied). */
export interface VariableSpec<T> {
  readonly group: GroupId;
  /** Other accepted names, Python AutoTLS names first. The canonical name wins when several are set. */
  readonly aliases: readonly string[];
  readonly description: string;
  /** Secret values are never quoted in messages and are scrubbed from logs. */
  readonly secret: boolean;
  /** The default as documented; empty when there is none. */
  readonly defaultText: string;
  /**
   * The literal default shown (commented out) in `.env.example`; undefined
   * when there is none, and the variable is then listed empty (unset).
   */
  readonly example: string | undefined;
  /** Parses the value (undefined when unset or empty) to `T`. */
  readonly schema: z.ZodType<T, string | undefined>;
}

interface VariableOptions<T> {
  group: GroupId;
  aliases?: readonly string[];
  description: string;
  secret?: boolean;
  parse: Parser<T>;
  /** Documented default when it is not the literal `default` (e.g. "AWS SDK default chain"). */
  defaultText?: string;
  /** Literal default for `.env.example` when `default` does not format as one. */
  example?: string;
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Wraps a parser as a zod type: `undefined` in (unset), `fallback` out. */
function fromParser<T, D>(parse: Parser<T>, fallback: D): z.ZodType<T | D, string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T | D => {
      if (raw === undefined) return fallback;
      const value = parse(raw);
      if (value instanceof Invalid) {
        ctx.issues.push({ code: 'custom', message: value.problem, input: raw, params: { got: value.got ?? raw } });
        return z.NEVER;
      }
      return value;
    });
}

function variable<T>(options: VariableOptions<T> & { default: NoInfer<T> }): VariableSpec<T>;
function variable<T>(options: VariableOptions<T>): VariableSpec<T | undefined>;
function variable<T>(options: VariableOptions<T> & { default?: NoInfer<T> }): VariableSpec<T | undefined> {
  const literal = 'default' in options ? formatDefault(options.default) : undefined;
  const example = options.example ?? literal;
  return {
    group: options.group,
    aliases: options.aliases ?? [],
    description: options.description,
    secret: options.secret ?? false,
    defaultText: options.defaultText ?? literal ?? '',
    example: example === '' ? undefined : example,
    schema: fromParser(options.parse, options.default),
  };
}

const anyText: Parser<string> = (raw) => raw;

export const APP_ENVS = ['local', 'staging', 'production'] as const;
export const KEY_TYPES = ['rsa2048', 'rsa3072', 'rsa4096', 'ec256', 'ec384'] as const;
export const DNS_PROVIDERS = ['route53', 'rfc2136', 'cloudflare'] as const;
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
    secret: true,
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
    secret: true,
    defaultText: DEFAULT_DATABASE.url,
    example: DEFAULT_DATABASE.url,
    parse: parseDatabaseUrl,
  }),
  DBUSER: variable({ group: 'database', description: 'PostgreSQL user, used with DBPWD, DBHOST and DBNAME when no database URL is set', parse: anyText }),
  DBPWD: variable({ group: 'database', description: 'PostgreSQL password for DBUSER (URL-encoded for you)', secret: true, parse: anyText }),
  DBHOST: variable({ group: 'database', description: 'PostgreSQL host, optionally host:port (port 5432 when omitted)', parse: parseHostPort(5432) }),
  DBNAME: variable({ group: 'database', description: 'PostgreSQL database name', parse: anyText }),

  // AWS
  AWS_ACCESS_KEY_ID: variable({ group: 'aws', aliases: ['AWS_ACCESS_KEY'], description: 'AWS access key id; set with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys) or not at all', defaultText: 'AWS SDK default chain', parse: parseToken('the access key id exactly as AWS issued it') }),
  AWS_SECRET_ACCESS_KEY: variable({ group: 'aws', aliases: ['AWS_SECRET_KEY'], description: 'AWS secret access key', secret: true, defaultText: 'AWS SDK default chain', parse: parseToken('the secret access key exactly as AWS issued it') }),
  AWS_SESSION_TOKEN: variable({ group: 'aws', description: 'Session token of temporary keys (SSO, aws-vault, STS); sent with every AWS call', secret: true, parse: parseToken('the session token exactly as AWS issued it') }),
  AWS_PROFILE: variable({ group: 'aws', description: 'Profile of the shared AWS config and credentials files (SSO, credential_process, role profiles); used when no keys are set', defaultText: 'AWS SDK default chain', parse: parseToken('a profile name from ~/.aws/config') }),
  AWS_REGION: variable({ group: 'aws', aliases: ['AWS_REGION_NAME'], description: 'AWS region', default: 'us-east-1', parse: parseToken('a region name such as us-east-1') }),
  AWS_ASSUME_ROLE_ARN: variable({ group: 'aws', description: 'IAM role assumed (STS AssumeRole, session autotls) for every AWS call', parse: parseRoleArn }),
  ROUTE53_ASSUME_ROLE_ARN: variable({ group: 'aws', description: 'IAM role for Route 53 calls only (cross-account DNS), assumed after AWS_ASSUME_ROLE_ARN: one ARN, or comma-separated <hosted-zone-id>=<ARN> entries plus at most one ARN for every other zone', defaultText: 'none', parse: parseRoute53Roles }),
  AWS_ENDPOINT_URL: variable({ group: 'aws', description: 'Endpoint for every AWS service (e.g. moto_server), unless a service-specific one is set', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),
  AWS_ENDPOINT_URL_ROUTE_53: variable({ group: 'aws', description: 'Route 53 endpoint', defaultText: 'AWS_ENDPOINT_URL, else AWS', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),
  AWS_ENDPOINT_URL_SECRETS_MANAGER: variable({ group: 'aws', description: 'Secrets Manager endpoint', defaultText: 'AWS_ENDPOINT_URL, else AWS', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),
  AWS_ENDPOINT_URL_STS: variable({ group: 'aws', description: 'STS endpoint, for the AssumeRole calls of AWS_ASSUME_ROLE_ARN and ROUTE53_ASSUME_ROLE_ARN', defaultText: 'AWS_ENDPOINT_URL, else AWS (regional)', parse: parseHttpUrl({ example: 'http://127.0.0.1:5000', base: true }) }),

  // Fastly
  FASTLY_API_TOKEN: variable({ group: 'fastly', description: 'Fastly API token with TLS management rights', secret: true, parse: parseToken('the token exactly as Fastly issued it') }),
  FASTLY_TLS_CONFIGURATION_ID: variable({ group: 'fastly', description: 'Fastly TLS configuration id for new bulk certificates', parse: parseToken('the id shown by Fastly') }),
  FASTLY_ALLOW_UNTRUSTED_ROOT: variable({ group: 'fastly', description: 'Let Fastly accept chains to a root it does not trust (private CAs, tests)', default: false, parse: parseBoolean }),
  FASTLY_API_URL: variable({ group: 'fastly', description: 'Base URL of the Fastly API', default: 'https://api.fastly.com', parse: parseHttpUrl({ example: 'https://api.fastly.com', base: true }) }),

  // ACME
  LE_DIRECTORY_URL: variable({ group: 'acme', description: 'ACME directory URL (production: https://acme-v02.api.letsencrypt.org/directory); a private CA is trusted via NODE_EXTRA_CA_CERTS', default: LE_STAGING, parse: parseHttpUrl({ example: LE_STAGING }) }),
  LE_ACCOUNT_KEY_SECRET_NAME: variable({ group: 'acme', description: 'Name of the secret holding the ACME account key (JWK JSON or PEM)', parse: parseToken('a secret name such as le-account-key') }),
  LE_ACCOUNT_KEY_SECRET: variable({ group: 'acme', description: 'The account key inline (JWK JSON or PEM), used when no secret name is set; empty or {} means unset', secret: true, parse: parseAccountKey }),
  ACME_EMAIL: variable({ group: 'acme', description: 'Contact address for autotls account create', parse: parseEmail }),
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
  DNS_PROVIDER: variable({ group: 'dns', description: `Where challenge records go: ${DNS_PROVIDERS.join(', ')}`, default: 'route53', parse: parseChoice(DNS_PROVIDERS, { route_53: 'is not supported; use route53', aws: 'is not supported; use route53', bind: 'is not supported; use rfc2136', cf: 'is not supported; use cloudflare' }) }),
  RFC2136_NAMESERVER: variable({ group: 'dns', description: 'host:port of the primary that accepts dynamic updates (port 53 when omitted)', parse: parseHostPort(53) }),
  RFC2136_TSIG_KEY: variable({ group: 'dns', description: 'TSIG key name for dynamic updates', parse: parseToken('the key name, e.g. autotls-key.') }),
  RFC2136_TSIG_SECRET: variable({ group: 'dns', description: 'TSIG secret (base64)', secret: true, parse: parseBase64Secret }),
  RFC2136_TSIG_ALGORITHM: variable({ group: 'dns', description: 'TSIG algorithm', default: 'hmac-sha256.', parse: parseTsigAlgorithm }),
  CLOUDFLARE_DNS_API_TOKEN: variable({ group: 'dns', description: 'Cloudflare API token with Zone.DNS edit rights', secret: true, parse: parseToken('the token exactly as Cloudflare issued it') }),
  CLOUDFLARE_API_URL: variable({ group: 'dns', description: 'Base URL of the Cloudflare API', default: 'https://api.cloudflare.com/client/v4', parse: parseHttpUrl({ example: 'https://api.cloudflare.com/client/v4', base: true }) }),
  DNS_RESOLVERS: variable({ group: 'dns', description: 'Comma-separated host[:port] resolvers used to find the authoritative nameservers (and CNAMEs) of the challenge name, which are then asked for the TXT record (port 53 when omitted)', default: [] as string[], defaultText: 'the system resolvers', parse: parseHostPortList(53) }),
  DNS_PROPAGATION_TIMEOUT: variable({ group: 'dns', description: 'Seconds to wait for the TXT record to propagate', default: 120, parse: parsePositiveInteger }),
  DNS_PROPAGATION_CHECK: variable({ group: 'dns', description: 'Wait until the TXT record is visible before asking the CA to validate', default: true, parse: parseBoolean }),

  // Secrets
  SECRETS_PROVIDER: variable({ group: 'secrets', description: `Where key material is stored: ${SECRETS_PROVIDERS.join(', ')}`, default: 'aws', parse: parseChoice(SECRETS_PROVIDERS, { secretsmanager: 'is not supported; use aws', files: 'is not supported; use file' }) }),
  SECRETS_DIR: variable({ group: 'secrets', description: 'Directory of the file provider (files are mode 0600, written atomically)', default: './data/secrets', parse: anyText }),
  PEM_SECRET_BASE_PATH: variable({ group: 'secrets', description: 'Secret name prefix: <base>/<domain>/private_key, fullchain and csr', default: 'pem-secret', parse: parseSecretBasePath }),

  // Notifications
  ENABLE_SLACK_NOTIFICATIONS: variable({ group: 'notify', description: 'Send run reports to Slack', default: false, parse: parseBoolean }),
  SLACK_WEBHOOK_URL: variable({ group: 'notify', description: 'Full Slack webhook URL; takes precedence over SLACK_WORKSPACE_ID and SLACK_WEBHOOK_KEY', secret: true, parse: parseHttpUrl({ example: 'https://hooks.slack.com/services/T000/B000/XXXX' }) }),
  SLACK_WORKSPACE_ID: variable({ group: 'notify', description: 'Slack workspace id: the webhook is https://hooks.slack.com/services/<WORKSPACE_ID>/<WEBHOOK_KEY>', parse: parseToken('the id from the webhook URL, e.g. T0000000') }),
  SLACK_WEBHOOK_KEY: variable({ group: 'notify', description: 'The rest of the Slack webhook URL after the workspace id', secret: true, parse: parseToken('the part of the webhook URL after the workspace id') }),
  SLACK_BOT_TOKEN: variable({ group: 'notify', description: 'Slack bot token (accepted for compatibility)', secret: true, parse: parseToken('the token exactly as Slack issued it') }),
  NOTIFY_WEBHOOK_URL: variable({ group: 'notify', description: 'Generic JSON webhook for run reports, signed with HMAC-SHA256 in X-AutoTLS-Signature', parse: parseHttpUrl({ example: 'https://hooks.example.com/autotls' }) }),
  NOTIFY_WEBHOOK_SECRET: variable({ group: 'notify', description: 'HMAC-SHA256 key for NOTIFY_WEBHOOK_URL', secret: true, parse: anyText }),
};

export type VariableName = keyof typeof VARIABLES;
type Variables = typeof VARIABLES;

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

type Shape = { [K in VariableName]: Variables[K]['schema'] };
const shape = Object.fromEntries(VARIABLE_NAMES.map((name) => [name, VARIABLES[name].schema])) as Shape;

/** The variables, each parsed on its own. */
export const variablesSchema = z.object(shape);
export type ParsedVariables = z.output<typeof variablesSchema>;

type Issue = { variable: VariableName; message: string };

/**
 * Rules that span variables. They run even when some variables failed their
 * own parse (so every problem is reported at once); a failed variable holds an
 * opaque marker, which is never `undefined` and never equals a valid value, so
 * a failed variable neither counts as missing nor satisfies a rule.
 */
export function crossVariableIssues(v: ParsedVariables): Issue[] {
  const issues: Issue[] = [];
  const need = (variable: VariableName, when: string, what: string): void => {
    if (v[variable] === undefined) issues.push({ variable, message: `required when ${when}; set ${nameWithAliases(variable)} to ${what}` });
  };

  if (v.APP_ENV === 'production') {
    const key = v.API_KEY;
    if (key === undefined) {
      need('API_KEY', 'APP_ENV=production', `a random string of at least ${MIN_PRODUCTION_API_KEY_LENGTH} characters`);
    } else if (typeof key === 'string' && key.length < MIN_PRODUCTION_API_KEY_LENGTH) {
      issues.push({ variable: 'API_KEY', message: `too short for APP_ENV=production; set it to a random string of at least ${MIN_PRODUCTION_API_KEY_LENGTH} characters (e.g. openssl rand -hex 32)` });
    }
  }

  if (v.AWS_ACCESS_KEY_ID !== undefined && v.AWS_SECRET_ACCESS_KEY === undefined) {
    need('AWS_SECRET_ACCESS_KEY', `${nameWithAliases('AWS_ACCESS_KEY_ID')} is set`, 'the matching secret, or unset both to use the AWS SDK default chain');
  }
  if (v.AWS_SECRET_ACCESS_KEY !== undefined && v.AWS_ACCESS_KEY_ID === undefined) {
    need('AWS_ACCESS_KEY_ID', `${nameWithAliases('AWS_SECRET_ACCESS_KEY')} is set`, 'the matching key id, or unset both to use the AWS SDK default chain');
  }
  if (v.AWS_SESSION_TOKEN !== undefined && v.AWS_ACCESS_KEY_ID === undefined && v.AWS_SECRET_ACCESS_KEY === undefined) {
    issues.push({ variable: 'AWS_SESSION_TOKEN', message: `is set without keys; set ${nameWithAliases('AWS_ACCESS_KEY_ID')} and ${nameWithAliases('AWS_SECRET_ACCESS_KEY')} of the same temporary credentials, or unset it to use the AWS SDK default chain` });
  }

  if (v.DNS_PROVIDER === 'rfc2136') {
    need('RFC2136_NAMESERVER', 'DNS_PROVIDER=rfc2136', 'the host:port of the primary nameserver that accepts updates');
    need('RFC2136_TSIG_KEY', 'DNS_PROVIDER=rfc2136', 'the TSIG key name the nameserver accepts updates with');
    need('RFC2136_TSIG_SECRET', 'DNS_PROVIDER=rfc2136', 'the base64 TSIG secret of that key');
  }
  if (v.DNS_PROVIDER === 'cloudflare') {
    need('CLOUDFLARE_DNS_API_TOKEN', 'DNS_PROVIDER=cloudflare', 'an API token with Zone.DNS edit rights');
  }

  if (v.ENABLE_SLACK_NOTIFICATIONS === true && v.SLACK_WEBHOOK_URL === undefined) {
    const workspace = v.SLACK_WORKSPACE_ID !== undefined;
    const key = v.SLACK_WEBHOOK_KEY !== undefined;
    if (!workspace && !key) {
      issues.push({ variable: 'ENABLE_SLACK_NOTIFICATIONS', message: 'is true but no Slack webhook is configured; set SLACK_WEBHOOK_URL, or both SLACK_WORKSPACE_ID and SLACK_WEBHOOK_KEY, or set ENABLE_SLACK_NOTIFICATIONS=false' });
    } else if (!workspace) {
      need('SLACK_WORKSPACE_ID', 'ENABLE_SLACK_NOTIFICATIONS=true and SLACK_WEBHOOK_KEY is set', 'the workspace id from the webhook URL, or set SLACK_WEBHOOK_URL instead');
    } else if (!key) {
      need('SLACK_WEBHOOK_KEY', 'ENABLE_SLACK_NOTIFICATIONS=true and SLACK_WORKSPACE_ID is set', 'the rest of the webhook URL, or set SLACK_WEBHOOK_URL instead');
    }
  }

  if (v.NOTIFY_WEBHOOK_URL !== undefined) {
    need('NOTIFY_WEBHOOK_SECRET', 'NOTIFY_WEBHOOK_URL is set', 'a random string the receiver uses to check X-AutoTLS-Signature');
  }

  return issues;
}

/** Whether the Python AutoTLS's DB* variables are to build the database URL. */
function usesDbParts(v: ParsedVariables): boolean {
  return v.DATABASE_URL === undefined && [v.DBUSER, v.DBPWD, v.DBHOST, v.DBNAME].some((part) => part !== undefined);
}

function dbPartIssues(v: ParsedVariables): Issue[] {
  if (!usesDbParts(v)) return [];
  const when = 'the DB* variables build the database URL';
  const what = (variable: VariableName, hint: string): Issue => ({
    variable,
    message: `required when ${when}; set ${variable} to ${hint}, or set DATABASE_URL instead`,
  });
  const issues: Issue[] = [];
  if (v.DBUSER === undefined) issues.push(what('DBUSER', 'the PostgreSQL user'));
  if (v.DBPWD === undefined) issues.push(what('DBPWD', 'the password of DBUSER'));
  if (v.DBHOST === undefined) issues.push(what('DBHOST', 'the PostgreSQL host (host or host:port)'));
  if (v.DBNAME === undefined) issues.push(what('DBNAME', 'the database name'));
  return issues;
}

const SLACK_HOOKS = 'https://hooks.slack.com/services';

function slackWebhookUrl(v: ParsedVariables): string | undefined {
  if (v.SLACK_WEBHOOK_URL !== undefined) return v.SLACK_WEBHOOK_URL;
  if (v.SLACK_WORKSPACE_ID === undefined || v.SLACK_WEBHOOK_KEY === undefined) return undefined;
  const trim = (part: string): string => part.replace(/^\/+|\/+$/g, '');
  return `${SLACK_HOOKS}/${trim(v.SLACK_WORKSPACE_ID)}/${trim(v.SLACK_WEBHOOK_KEY)}`;
}

function database(v: ParsedVariables): Settings['database'] {
  if (usesDbParts(v) && v.DBUSER !== undefined && v.DBHOST !== undefined && v.DBNAME !== undefined) {
    return {
      url: composePostgresUrl({ user: v.DBUSER, password: v.DBPWD, host: v.DBHOST, name: v.DBNAME }),
      provider: 'postgresql',
    };
  }
  return v.DATABASE_URL ?? { ...DEFAULT_DATABASE };
}

/** Settings from variables that all passed, individually and together. */
export function toSettings(v: ParsedVariables): Settings {
  return {
    appEnv: v.APP_ENV,
    apiKey: v.API_KEY,
    port: v.PORT,
    host: v.HOST,
    logLevel: v.LOG_LEVEL,
    database: database(v),
    aws: {
      region: v.AWS_REGION,
      accessKeyId: v.AWS_ACCESS_KEY_ID,
      secretAccessKey: v.AWS_SECRET_ACCESS_KEY,
      sessionToken: v.AWS_SESSION_TOKEN,
      profile: v.AWS_PROFILE,
      route53Endpoint: v.AWS_ENDPOINT_URL_ROUTE_53 ?? v.AWS_ENDPOINT_URL,
      secretsManagerEndpoint: v.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? v.AWS_ENDPOINT_URL,
      stsEndpoint: v.AWS_ENDPOINT_URL_STS ?? v.AWS_ENDPOINT_URL,
      assumeRoleArn: v.AWS_ASSUME_ROLE_ARN,
      route53Roles: v.ROUTE53_ASSUME_ROLE_ARN,
    },
    fastly: {
      apiToken: v.FASTLY_API_TOKEN,
      tlsConfigurationId: v.FASTLY_TLS_CONFIGURATION_ID,
      apiUrl: v.FASTLY_API_URL,
      allowUntrustedRoot: v.FASTLY_ALLOW_UNTRUSTED_ROOT,
    },
    acme: {
      directoryUrl: v.LE_DIRECTORY_URL,
      accountKeySecretName: v.LE_ACCOUNT_KEY_SECRET_NAME,
      accountKeyInline: v.LE_ACCOUNT_KEY_SECRET,
      email: v.ACME_EMAIL,
      profile: v.ACME_PROFILE,
      keyType: v.ACME_KEY_TYPE,
      orderBudget: v.ACME_ORDER_BUDGET,
    },
    slack: {
      enabled: v.ENABLE_SLACK_NOTIFICATIONS,
      webhookUrl: slackWebhookUrl(v),
      botToken: v.SLACK_BOT_TOKEN,
    },
    webhook: {
      url: v.NOTIFY_WEBHOOK_URL,
      secret: v.NOTIFY_WEBHOOK_SECRET,
    },
    pemSecretBasePath: v.PEM_SECRET_BASE_PATH,
    renewal: {
      windowDays: v.RENEWAL_WINDOW_DAYS.days,
      windowExplicit: v.RENEWAL_WINDOW_DAYS.explicit,
    },
    excludedDomains: v.EXCLUDED_DOMAINS,
    maxDomainsPerRun: v.MAX_DOMAINS_PER_RUN,
    concurrency: v.CONCURRENCY,
    dns: {
      provider: v.DNS_PROVIDER,
      rfc2136: {
        nameserver: v.RFC2136_NAMESERVER,
        tsigKey: v.RFC2136_TSIG_KEY,
        tsigSecret: v.RFC2136_TSIG_SECRET,
        tsigAlgorithm: v.RFC2136_TSIG_ALGORITHM,
      },
      cloudflare: {
        apiToken: v.CLOUDFLARE_DNS_API_TOKEN,
        apiUrl: v.CLOUDFLARE_API_URL,
      },
      resolvers: v.DNS_RESOLVERS,
      propagationTimeoutSeconds: v.DNS_PROPAGATION_TIMEOUT,
      propagationCheck: v.DNS_PROPAGATION_CHECK,
    },
    secrets: {
      provider: v.SECRETS_PROVIDER,
      dir: v.SECRETS_DIR,
    },
    probe: {
      host: v.TLS_PROBE_HOST,
      port: v.TLS_PROBE_PORT,
    },
    runTimeoutSeconds: v.RUN_TIMEOUT,
    leaseTtlSeconds: v.LEASE_TTL_SECONDS,
    shutdownTimeoutSeconds: v.SHUTDOWN_TIMEOUT,
    schedule: v.SCHEDULE,
  };
}

/**
 * The whole configuration: every variable parsed on its own, then the rules
 * that span variables (run even after individual failures, so that one start
 * reports every problem), then `Settings`. Input: canonical name → value, with
 * aliases already resolved and empty values removed (see `readEnvironment`).
 */
export const environmentSchema = variablesSchema
  .superRefine(
    (v, ctx) => {
      for (const issue of [...crossVariableIssues(v), ...dbPartIssues(v)]) {
        ctx.addIssue({ code: 'custom', path: [issue.variable], message: issue.message });
      }
    },
    { when: () => true },
  )
  .transform(toSettings);

/** What `readEnvironment` found: values by canonical name, and which name supplied each. */
export interface EnvironmentReading {
  values: Partial<Record<VariableName, string>>;
  /** The name each value was read from, when it was an alias. */
  sources: Partial<Record<VariableName, string>>;
  warnings: string[];
}

/**
 * Resolves aliases: for each variable, the first non-empty value among its
 * canonical name and then its aliases in order. Values are trimmed; an empty
 * value is the same as an unset one (the Python AutoTLS example lists every
 * variable, most of them empty).
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>>): EnvironmentReading {
  const reading: EnvironmentReading = { values: {}, sources: {}, warnings: [] };
  for (const name of VARIABLE_NAMES) {
    const given = [name, ...VARIABLES[name].aliases]
      .map((source) => ({ source, value: env[source]?.trim() ?? '' }))
      .filter((entry) => entry.value.length > 0);
    const chosen = given[0];
    if (chosen === undefined) continue;
    reading.values[name] = chosen.source === 'SQLALCHEMY_DATABASE_URI' ? flaskSqlalchemyUri(chosen.value) : chosen.value;
    if (chosen.source !== name) reading.sources[name] = chosen.source;
    for (const other of given.slice(1)) {
      if (other.value !== chosen.value) {
        reading.warnings.push(`${chosen.source} and ${other.source} are both set to different values; using ${chosen.source} (the canonical name wins over its aliases)`);
      }
    }
  }
  if (reading.values.AWS_PROFILE !== undefined && reading.values.AWS_ACCESS_KEY_ID !== undefined) {
    const key = reading.sources.AWS_ACCESS_KEY_ID ?? 'AWS_ACCESS_KEY_ID';
    reading.warnings.push(`${key} is set, so AWS_PROFILE is ignored: the keys sign every AWS call; unset them to use the profile`);
  }
  const dbParts = (['DBUSER', 'DBPWD', 'DBHOST', 'DBNAME'] as const).filter((part) => reading.values[part] !== undefined);
  if (reading.values.DATABASE_URL !== undefined && dbParts.length > 0) {
    const url = reading.sources.DATABASE_URL ?? 'DATABASE_URL';
    reading.warnings.push(`${url} is set, so ${dbParts.join(', ')} ${dbParts.length === 1 ? 'is' : 'are'} ignored`);
  }
  return reading;
}
