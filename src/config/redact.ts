import type { Settings } from './settings.js';

/** The password inside a database URL, as written and decoded. */
function databasePassword(url: string): string[] {
  if (!url.startsWith('postgresql://')) return [];
  try {
    const { password } = new URL(url);
    if (password.length === 0) return [];
    return [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}

/** The secret part of a Slack webhook URL: everything after `/services/`. */
function slackWebhookKey(url: string): string[] {
  const marker = '/services/';
  const at = url.indexOf(marker);
  return at === -1 ? [] : [url.slice(at + marker.length)];
}

/**
 * Every secret value present in the settings, for the logger to scrub from
 * free text: API key, tokens, the TSIG, AWS and webhook secrets, the database
 * password and the inline account key. Longest first, de-duplicated.
 */
export function secretValues(settings: Settings): string[] {
  const candidates = [
    settings.apiKey,
    settings.fastly.apiToken,
    settings.aws.secretAccessKey,
    settings.aws.sessionToken,
    settings.dns.rfc2136.tsigSecret,
    settings.dns.cloudflare.apiToken,
    settings.slack.webhookUrl,
    ...(settings.slack.webhookUrl === undefined ? [] : slackWebhookKey(settings.slack.webhookUrl)),
    settings.slack.botToken,
    settings.webhook.secret,
    settings.acme.accountKeyInline,
    ...databasePassword(settings.database.url),
  ];
  const present = candidates.filter((value): value is string => value !== undefined && value.length > 0);
  return [...new Set(present)].sort((a, b) => b.length - a.length);
}

const SET = 'set';
const UNSET = 'unset';

function presence(value: string | undefined): typeof SET | typeof UNSET {
  return value === undefined ? UNSET : SET;
}

/** The URL without credentials: `postgresql://autotls:***@db:5432/autotls`. */
function withoutPassword(url: string): string {
  if (!url.startsWith('postgresql://')) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password.length > 0) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgresql://[unparseable]';
  }
}

/** Scheme and host only: webhook paths often carry a token. */
function originOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '[unparseable]';
  }
}

/** How AWS calls are signed, without the secret or the session token. */
function awsCredentials(aws: Settings['aws']): string {
  if (aws.accessKeyId !== undefined) return `access key ${aws.accessKeyId}${aws.sessionToken === undefined ? '' : ' with session token'}`;
  return aws.profile === undefined ? 'default chain' : `default chain, profile ${aws.profile}`;
}

function route53Roles(roles: Settings['aws']['route53Roles']): string {
  if (roles === undefined) return 'none';
  const zones = Object.entries(roles.byZone).map(([zone, arn]) => `${zone}=${arn}`);
  return [...zones, ...(roles.defaultRoleArn === undefined ? [] : [`other zones=${roles.defaultRoleArn}`])].join(', ');
}

/**
 * A summary of the settings that is safe to log at start-up: secrets appear
 * only as `set`/`unset`, the database password and webhook paths are masked.
 */
export function describeSettings(settings: Settings) {
  return {
    appEnv: settings.appEnv,
    listen: `${settings.host}:${settings.port}`,
    logLevel: settings.logLevel,
    apiKey: presence(settings.apiKey),
    database: { provider: settings.database.provider, url: withoutPassword(settings.database.url) },
    aws: {
      region: settings.aws.region,
      credentials: awsCredentials(settings.aws),
      assumeRole: settings.aws.assumeRoleArn ?? 'none',
      route53Role: route53Roles(settings.aws.route53Roles),
      route53Endpoint: settings.aws.route53Endpoint ?? 'AWS',
      secretsManagerEndpoint: settings.aws.secretsManagerEndpoint ?? 'AWS',
      stsEndpoint: settings.aws.stsEndpoint ?? 'AWS',
    },
    fastly: {
      apiUrl: settings.fastly.apiUrl,
      apiToken: presence(settings.fastly.apiToken),
      tlsConfigurationId: settings.fastly.tlsConfigurationId ?? UNSET,
    },
    acme: {
      directoryUrl: settings.acme.directoryUrl,
      accountKey:
        settings.acme.accountKeySecretName !== undefined
          ? `secret ${settings.acme.accountKeySecretName}`
          : settings.acme.accountKeyInline !== undefined
            ? 'inline'
            : UNSET,
      email: settings.acme.email ?? UNSET,
      profile: settings.acme.profile ?? 'CA default',
      keyType: settings.acme.keyType,
      orderBudget: settings.acme.orderBudget,
    },
    renewal: {
      windowDays: settings.renewal.windowDays,
      windowExplicit: settings.renewal.windowExplicit,
      excludedDomains: settings.excludedDomains.length,
      maxDomainsPerRun: settings.maxDomainsPerRun,
      concurrency: settings.concurrency,
      runTimeoutSeconds: settings.runTimeoutSeconds,
      schedule: settings.schedule ?? 'none',
    },
    probe: { host: settings.probe.host ?? 'the domain', port: settings.probe.port },
    dns: {
      provider: settings.dns.provider,
      ...(settings.dns.provider === 'rfc2136'
        ? {
            nameserver: settings.dns.rfc2136.nameserver,
            tsigKey: settings.dns.rfc2136.tsigKey,
            tsigAlgorithm: settings.dns.rfc2136.tsigAlgorithm,
            tsigSecret: presence(settings.dns.rfc2136.tsigSecret),
          }
        : {}),
      ...(settings.dns.provider === 'cloudflare'
        ? { apiUrl: settings.dns.cloudflare.apiUrl, apiToken: presence(settings.dns.cloudflare.apiToken) }
        : {}),
      resolvers: settings.dns.resolvers.length > 0 ? settings.dns.resolvers : 'authoritative',
      propagationCheck: settings.dns.propagationCheck,
      propagationTimeoutSeconds: settings.dns.propagationTimeoutSeconds,
    },
    secrets: {
      provider: settings.secrets.provider,
      ...(settings.secrets.provider === 'file' ? { dir: settings.secrets.dir } : {}),
      pemSecretBasePath: settings.pemSecretBasePath,
    },
    notify: {
      slack: settings.slack.enabled ? (settings.slack.webhookUrl === undefined ? 'enabled, no webhook' : 'enabled') : 'disabled',
      webhook: originOf(settings.webhook.url) ?? 'none',
    },
  };
}

export type SettingsSummary = ReturnType<typeof describeSettings>;
