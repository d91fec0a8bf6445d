import { z } from 'zod';
import type { Settings } from './settings.js';
import { composePostgresUrl, flaskSqlalchemyUri } from './parsers.js';
import { DEFAULT_DATABASE, MIN_PRODUCTION_API_KEY_LENGTH, VARIABLES, VARIABLE_NAMES, nameWithAliases, type VariableName } from './variables.js';

/*
 * The whole configuration, from the rows of `VARIABLES` (./variables.ts, built
 * with ./variable.ts): each variable parsed on its own, then the rules that
 * span several variables, then `Settings`.
 */

type Variables = typeof VARIABLES;

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

  if (v.ACME_EAB_KID !== undefined && v.ACME_EAB_HMAC_KEY === undefined) need('ACME_EAB_HMAC_KEY', 'ACME_EAB_KID is set', 'the HMAC key the CA issued with that key id');
  if (v.ACME_EAB_HMAC_KEY !== undefined && v.ACME_EAB_KID === undefined) need('ACME_EAB_KID', 'ACME_EAB_HMAC_KEY is set', 'the key id the CA issued with that HMAC key');

  if (v.ACME_FALLBACK_EAB_KID !== undefined && v.ACME_FALLBACK_EAB_HMAC_KEY === undefined) need('ACME_FALLBACK_EAB_HMAC_KEY', 'ACME_FALLBACK_EAB_KID is set', 'the HMAC key the fallback CA issued with that key id');
  if (v.ACME_FALLBACK_EAB_HMAC_KEY !== undefined && v.ACME_FALLBACK_EAB_KID === undefined) need('ACME_FALLBACK_EAB_KID', 'ACME_FALLBACK_EAB_HMAC_KEY is set', 'the key id the fallback CA issued with that HMAC key');
  if (v.ACME_FALLBACK_DIRECTORY_URL !== undefined) {
    need('ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME', 'ACME_FALLBACK_DIRECTORY_URL is set', 'the secret that holds (or will hold, after autotls account create --fallback) the fallback account key');
    if (typeof v.ACME_FALLBACK_DIRECTORY_URL === 'string' && v.ACME_FALLBACK_DIRECTORY_URL === v.LE_DIRECTORY_URL) {
      issues.push({ variable: 'ACME_FALLBACK_DIRECTORY_URL', message: 'is the same directory as LE_DIRECTORY_URL; set it to a second CA, or unset it' });
    }
  } else {
    for (const name of ['ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME', 'ACME_FALLBACK_EAB_KID', 'ACME_FALLBACK_EAB_HMAC_KEY'] as const) {
      if (v[name] !== undefined) issues.push({ variable: name, message: 'is set but ACME_FALLBACK_DIRECTORY_URL is not; set ACME_FALLBACK_DIRECTORY_URL to the fallback CA directory, or unset it' });
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
  if (v.DNS_PROVIDER === 'pdns') {
    need('PDNS_API_URL', 'DNS_PROVIDER=pdns', 'the URL of the PowerDNS webserver, e.g. http://127.0.0.1:8081');
    need('PDNS_API_KEY', 'DNS_PROVIDER=pdns', 'the api-key of the PowerDNS server');
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
      eab: v.ACME_EAB_KID !== undefined && v.ACME_EAB_HMAC_KEY !== undefined ? { kid: v.ACME_EAB_KID, hmacKey: v.ACME_EAB_HMAC_KEY } : undefined,
      fallback:
        v.ACME_FALLBACK_DIRECTORY_URL !== undefined && v.ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME !== undefined
          ? {
              directoryUrl: v.ACME_FALLBACK_DIRECTORY_URL,
              accountKeySecretName: v.ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME,
              eab: v.ACME_FALLBACK_EAB_KID !== undefined && v.ACME_FALLBACK_EAB_HMAC_KEY !== undefined ? { kid: v.ACME_FALLBACK_EAB_KID, hmacKey: v.ACME_FALLBACK_EAB_HMAC_KEY } : undefined,
            }
          : undefined,
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
      pdns: {
        apiUrl: v.PDNS_API_URL,
        apiKey: v.PDNS_API_KEY,
        serverName: v.PDNS_SERVER_NAME,
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
