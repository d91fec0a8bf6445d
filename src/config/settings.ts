/**
 * Typed settings, produced from the environment (and `.env`) by `loadSettings`
 * in `./index.ts`. Only the composition root and the CLI entry read the
 * environment; every other module receives the slice of settings it needs.
 */
export type AppEnv = 'local' | 'staging' | 'production';
export type DnsProviderName = 'route53' | 'rfc2136' | 'cloudflare' | 'pdns';
export type SecretsProviderName = 'aws' | 'file';
export type CertificateKeyType = 'rsa2048' | 'rsa3072' | 'rsa4096' | 'ec256' | 'ec384';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * ROUTE53_ASSUME_ROLE_ARN: the role Route 53 calls assume, per hosted zone.
 * A zone listed in `byZone` (bare hosted-zone id, upper case) uses its role;
 * any other zone uses `defaultRoleArn`, or no Route 53 role when that is unset.
 */
export interface Route53Roles {
  defaultRoleArn: string | undefined;
  byZone: Readonly<Record<string, string>>;
}

export interface Settings {
  appEnv: AppEnv;
  /** The API key (`API_KEY`, alias `FLASK_SECRET_KEY`); undefined outside production when unset. */
  apiKey: string | undefined;
  port: number;
  host: string;
  /** LOG_LEVEL (pino level), default `info`. */
  logLevel: LogLevel;
  database: {
    /** Normalised URL: `file:<path>` for SQLite, `postgresql://...` for PostgreSQL. */
    url: string;
    provider: 'sqlite' | 'postgresql';
  };
  aws: {
    region: string;
    /**
     * Static keys: both set, or both undefined (then the SDK's default credential
     * chain applies: environment, AWS_PROFILE and SSO, web identity, container
     * and instance roles). `sessionToken` goes with them when they are temporary.
     */
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    sessionToken?: string | undefined;
    /** AWS_PROFILE, handed to the default chain (ignored when static keys are set). */
    profile?: string | undefined;
    route53Endpoint: string | undefined;
    secretsManagerEndpoint: string | undefined;
    stsEndpoint?: string | undefined;
    /** AWS_ASSUME_ROLE_ARN: assumed (STS AssumeRole) for every AWS call. */
    assumeRoleArn?: string | undefined;
    /** ROUTE53_ASSUME_ROLE_ARN: assumed for Route 53 calls only, on top of the above. */
    route53Roles?: Route53Roles | undefined;
  };
  fastly: {
    apiToken: string | undefined;
    tlsConfigurationId: string | undefined;
    apiUrl: string;
    /** Upload chains whose root Fastly does not trust (a private CA such as Pebble in tests). */
    allowUntrustedRoot: boolean;
  };
  acme: {
    directoryUrl: string;
    accountKeySecretName: string | undefined;
    /** Inline key (JWK JSON or PEM); undefined when unset, empty or `{}`. */
    accountKeyInline: string | undefined;
    email: string | undefined;
    /** External Account Binding for `account create` (ACME_EAB_KID + ACME_EAB_HMAC_KEY). */
    eab: { kid: string; hmacKey: string } | undefined;
    /**
     * The second CA (ACME_FALLBACK_*), used for a domain only when the first
     * cannot issue in time (certificates/ca-choice.ts); undefined when unset.
     */
    fallback: { directoryUrl: string; accountKeySecretName: string; eab: { kid: string; hmacKey: string } | undefined } | undefined;
    profile: string | undefined;
    keyType: CertificateKeyType;
    /** New orders allowed per account in any 3 hours. */
    orderBudget: number;
  };
  slack: {
    enabled: boolean;
    /** Resolved webhook URL: SLACK_WEBHOOK_URL, else built from workspace id + key. */
    webhookUrl: string | undefined;
    botToken: string | undefined;
  };
  webhook: {
    url: string | undefined;
    secret: string | undefined;
  };
  pemSecretBasePath: string;
  renewal: {
    /** RENEWAL_WINDOW_DAYS; `explicit` is true when the variable was set. */
    windowDays: number;
    windowExplicit: boolean;
  };
  excludedDomains: string[];
  maxDomainsPerRun: number;
  concurrency: number;
  dns: {
    provider: DnsProviderName;
    rfc2136: {
      nameserver: string | undefined;
      tsigKey: string | undefined;
      tsigSecret: string | undefined;
      tsigAlgorithm: string;
    };
    cloudflare: {
      apiToken: string | undefined;
      apiUrl: string;
    };
    /** PowerDNS HTTP API (PDNS_*, lego's names). */
    pdns: {
      apiUrl: string | undefined;
      apiKey: string | undefined;
      serverName: string;
    };
    /** `host:port` resolvers for the propagation check; empty means authoritative nameservers. */
    resolvers: string[];
    propagationTimeoutSeconds: number;
    propagationCheck: boolean;
  };
  secrets: {
    provider: SecretsProviderName;
    dir: string;
  };
  probe: {
    host: string | undefined;
    port: number;
  };
  runTimeoutSeconds: number;
  /** A domain lease's lifetime; it is extended while the domain is worked on. */
  leaseTtlSeconds: number;
  /** Grace period for in-flight domains after SIGTERM. */
  shutdownTimeoutSeconds: number;
  schedule: string | undefined;
}
