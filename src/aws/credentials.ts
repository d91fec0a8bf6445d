/**
 * Which AWS credentials sign each call.
 *
 * Base credentials:
 * - static keys when configured (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or
 *   the Python AutoTLS names AWS_ACCESS_KEY / AWS_SECRET_KEY), always together
 *   with AWS_SESSION_TOKEN when it is set: temporary keys (SSO, aws-vault, OIDC)
 *   are useless without it;
 * - otherwise the SDK's default credential chain (`fromNodeProviderChain`):
 *   environment, AWS_PROFILE (shared files, SSO, credential_process, source
 *   profiles), web identity (EKS IRSA), ECS/EKS container credentials, EC2
 *   instance role.
 *
 * On top of those, AWS_ASSUME_ROLE_ARN is assumed for every AWS call, and a
 * Route 53 role (ROUTE53_ASSUME_ROLE_ARN, per hosted zone or default) for Route
 * 53 calls only, with the AWS_ASSUME_ROLE_ARN session (if any) as the caller.
 * Each role is assumed with STS AssumeRole, session name `autotls`, once per
 * process and role: Route 53 and Secrets Manager share the session, which is
 * refreshed five minutes before it expires. A failed refresh keeps using the
 * old session while it is still valid.
 */
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { Settings } from '../config/settings.js';
import { route53RoleFor } from './roles.js';

/** What signs a request (structurally the SDK's AwsCredentialIdentity). */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly expiration?: Date | undefined;
}

/** A source of credentials; pass it as a client's `credentials`. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/** Credentials for one scope, with a key that is equal for equal credentials (one SDK client per key). */
export interface ScopedCredentials {
  /** `base`, or the ARN of the last role assumed. */
  readonly key: string;
  readonly provider: AwsCredentialsProvider;
}

export class AwsCredentialsError extends Error {
  override readonly name = 'AwsCredentialsError';
}

export type AwsCredentialSettings = Settings['aws'];

/** STS AssumeRole session name, as CloudTrail shows it in the role's events. */
export const ROLE_SESSION_NAME = 'autotls';
/** One hour: the most STS allows when one role is assumed from another (role chaining). */
const ROLE_SESSION_SECONDS = 3600;
/** Refresh this long before expiry (the SDK clients' own margin). */
const REFRESH_BEFORE_MS = 5 * 60_000;
/** After a failed refresh, the next attempt waits this long while the old credentials are valid. */
const RETRY_REFRESH_AFTER_MS = 30_000;

export interface AwsCredentialSourceOptions {
  /** For tests. */
  now?: () => number;
  /** STS call timeouts; default 5 s to connect, 10 s per request. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export class AwsCredentialSource {
  private readonly base: AwsCredentialsProvider;
  private readonly roles = new Map<string, AwsCredentialsProvider>();
  private readonly now: () => number;

  constructor(
    private readonly settings: AwsCredentialSettings,
    private readonly options: AwsCredentialSourceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.base = baseCredentials(settings);
  }

  /** For every AWS call (Secrets Manager; Route 53 when it has no role of its own). */
  service(): ScopedCredentials {
    const arn = this.settings.assumeRoleArn;
    if (arn === undefined) return { key: 'base', provider: this.base };
    return { key: arn, provider: this.assumed(arn, this.base, 'AWS_ASSUME_ROLE_ARN') };
  }

  /** For Route 53 calls on one hosted zone (undefined: calls that name no zone, such as ListHostedZonesByName). */
  route53(zoneId: string | undefined): ScopedCredentials {
    const service = this.service();
    const arn = route53RoleFor(this.settings.route53Roles, zoneId);
    if (arn === undefined) return service;
    if (arn === this.settings.assumeRoleArn) return service;
    return { key: `${service.key} -> ${arn}`, provider: this.assumed(arn, service.provider, 'ROUTE53_ASSUME_ROLE_ARN') };
  }

  private assumed(roleArn: string, caller: AwsCredentialsProvider, variable: string): AwsCredentialsProvider {
    const cacheKey = `${variable} ${roleArn}`;
    const cached = this.roles.get(cacheKey);
    if (cached) return cached;
    const endpoint = this.settings.stsEndpoint;
    const assume = fromTemporaryCredentials({
      params: { RoleArn: roleArn, RoleSessionName: ROLE_SESSION_NAME, DurationSeconds: ROLE_SESSION_SECONDS },
      masterCredentials: caller,
      clientConfig: {
        region: this.settings.region,
        ...(endpoint === undefined ? {} : { endpoint }),
        maxAttempts: 3,
        requestHandler: {
          connectionTimeout: this.options.connectionTimeoutMs ?? 5_000,
          requestTimeout: this.options.requestTimeoutMs ?? 10_000,
          throwOnRequestTimeout: true,
        },
      },
    });
    const provider = memoizeCredentials(async () => {
      try {
        return await assume();
      } catch (error) {
        throw new AwsCredentialsError(`assuming ${variable} ${roleArn} (STS AssumeRole): ${describe(error)}`, { cause: error });
      }
    }, this.now);
    this.roles.set(cacheKey, provider);
    return provider;
  }
}

const sources = new WeakMap<AwsCredentialSettings, AwsCredentialSource>();

/**
 * The credential source of a settings object, created on first use, so that
 * every AWS client built from the same settings shares the role sessions.
 */
export function credentialSourceFor(settings: AwsCredentialSettings): AwsCredentialSource {
  let source = sources.get(settings);
  if (source === undefined) {
    source = new AwsCredentialSource(settings);
    sources.set(settings, source);
  }
  return source;
}

function baseCredentials(settings: AwsCredentialSettings): AwsCredentialsProvider {
  const { accessKeyId, secretAccessKey, sessionToken } = settings;
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const fixed: AwsCredentials = { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) };
    return markMemoized(() => Promise.resolve(fixed));
  }
  if (accessKeyId !== undefined || secretAccessKey !== undefined) {
    // The configuration schema refuses this; a programmatic caller gets the same rule.
    throw new AwsCredentialsError('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither to use the AWS SDK default credential chain');
  }
  // Memoized by the SDK (refreshes expiring container, web-identity and SSO credentials).
  const chain = fromNodeProviderChain({
    ...(settings.profile === undefined ? {} : { profile: settings.profile }),
    clientConfig: { region: settings.region },
  });
  return markMemoized(async () => {
    try {
      return await chain();
    } catch (error) {
      throw new AwsCredentialsError(
        `finding AWS credentials (SDK default chain: environment, ${settings.profile === undefined ? 'AWS_PROFILE' : `profile ${settings.profile}`}, web identity, container, instance role): ${describe(error)}`,
        { cause: error },
      );
    }
  });
}

/**
 * Caches credentials until five minutes before they expire; concurrent callers
 * share one refresh. When a refresh fails and the old credentials have not
 * expired yet, they are returned, and the next refresh is tried 30 s later
 * (so an STS outage does not slow every call down).
 */
export function memoizeCredentials(load: AwsCredentialsProvider, now: () => number = Date.now): AwsCredentialsProvider {
  let current: AwsCredentials | undefined;
  let refreshing: Promise<AwsCredentials> | undefined;
  const expiresWithin = (credentials: AwsCredentials, ms: number): boolean =>
    credentials.expiration !== undefined && credentials.expiration.getTime() - now() <= ms;
  let quietUntil = 0;
  return markMemoized(async () => {
    if (current !== undefined && !expiresWithin(current, REFRESH_BEFORE_MS)) return current;
    // After a failed refresh, still-valid credentials serve for a while without asking again.
    if (current !== undefined && now() < quietUntil && !expiresWithin(current, 0)) return current;
    refreshing ??= load()
      .then((fresh) => (current = fresh))
      .finally(() => {
        refreshing = undefined;
      });
    try {
      return await refreshing;
    } catch (error) {
      if (current !== undefined && !expiresWithin(current, 0)) {
        quietUntil = now() + RETRY_REFRESH_AFTER_MS;
        return current;
      }
      throw error;
    }
  });
}

/** Tells the SDK clients not to wrap the provider in a cache of their own. */
function markMemoized(provider: AwsCredentialsProvider): AwsCredentialsProvider {
  return Object.assign(provider, { memoized: true });
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  return String(error);
}
