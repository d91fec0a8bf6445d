/**
 * Amazon Route 53 through the AWS SDK v3.
 *
 * Like lego's route53 provider: read the TXT record set, write it back with our
 * values added (or removed), then wait until the change is INSYNC. Other values
 * in the set are kept. The zone handle is the
 * hosted-zone id (`Z…`, `/hostedzone/Z…` is accepted too).
 *
 * Route 53 allows five API requests per second per account. Every request this
 * client sends (the waiter's GetChange included) first takes a token from a
 * bucket refilled below that rate; Throttling and PriorRequestNotComplete are
 * retried with exponential backoff and jitter, a bounded number of times. The
 * SDK's own retries are off (maxAttempts 1) so that this is the only retry
 * policy and its bound is the one stated here.
 */
import {
  ChangeResourceRecordSetsCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  waitUntilResourceRecordSetsChanged,
  type Change,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import type { ScopedCredentials } from '../aws/credentials.js';
import type { Logger } from '../logger.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { TokenBucket } from './ratelimiter.js';
import { backoffDelay, sleep, withRetry, type RetryPolicy } from '../util/retry.js';
import { ancestorsOf, normalizeName, quoteTxt, unquoteTxt } from './wire.js';
import { KeyedQueue } from '../util/keyed-queue.js';

export interface Route53Config {
  region: string;
  /**
   * What signs the calls for a hosted zone (undefined: calls naming no zone),
   * from src/aws/credentials.ts: base credentials, AWS_ASSUME_ROLE_ARN, and the
   * zone's ROUTE53_ASSUME_ROLE_ARN role. One SDK client per distinct `key`.
   * Takes precedence over the static keys below.
   */
  credentials?: (zoneId: string | undefined) => ScopedCredentials;
  /** Static keys, both or neither; without any, the SDK's default credential chain applies. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Sent with the static keys when they are temporary. */
  sessionToken?: string;
  /** AWS_ENDPOINT_URL_ROUTE_53, e.g. moto in tests. */
  endpoint?: string;
  /** TTL of the TXT records written. Default 60 s. */
  ttl?: number;
  /** Default 5 s to connect, 15 s for a whole request. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Upper bound of the wait for INSYNC after a change. Default 120 s. */
  maxWaitSeconds?: number;
  /** Attempts in total for throttling, PriorRequestNotComplete, 5xx and network errors. Default 6. */
  attempts?: number;
  /** Requests per second this client sends at most. Default 4 (Route 53 allows 5 per account). */
  requestsPerSecond?: number;
}

const TRANSIENT_ERRORS = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
  'RequestTimeout',
  'TimeoutError',
]);
const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function isTransient(error: unknown): boolean {
  const e = (error ?? {}) as AwsLikeError;
  if (e.name && TRANSIENT_ERRORS.has(e.name)) return true;
  if (e.code && TRANSIENT_NETWORK_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  return Boolean(e.$retryable);
}

/**
 * A DELETE refused because the record set is no longer what we read (gone, or
 * changed). Real AWS answers InvalidChangeBatch ("Tried to delete resource record
 * set … but it was not found" / "… the values provided do not match the current
 * values"); moto answers InvalidInput naming the DELETE. The caller reads again.
 */
function isLostRace(error: unknown): boolean {
  const e = (error ?? {}) as AwsLikeError;
  const message = e.message ?? '';
  if (e.name === 'InvalidChangeBatch') return /not found|do not match|does not exist/i.test(message);
  return e.name === 'InvalidInput' && /Action=DELETE|not found/i.test(message);
}

/** Read-modify-write rounds of one addTxt/removeTxt before giving up. */
const CAS_ROUNDS = 6;

export { quoteTxt, unquoteTxt } from './wire.js';

/** `/hostedzone/Z123` → `Z123`. */
export function bareZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, '');
}

export class Route53Provider implements DnsProvider {
  readonly name = 'route53';
  /** For calls that name no hosted zone (ListHostedZonesByName). */
  private readonly client: Route53Client;
  /** The client whose credentials serve this hosted zone (per-zone ROUTE53_ASSUME_ROLE_ARN). */
  private readonly clientFor: (zone: string | undefined) => Route53Client;
  private readonly ttl: number;
  private readonly maxWaitSeconds: number;
  private readonly retry: RetryPolicy;
  /** The last write queued per `zone|name`, so that writes at one name take turns. */
  private readonly writers = new KeyedQueue();

  constructor(
    config: Route53Config,
    private readonly logger: Logger,
  ) {
    if (Boolean(config.accessKeyId) !== Boolean(config.secretAccessKey)) {
      throw new DnsProviderError('Route53: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
    }
    this.ttl = config.ttl ?? 60;
    this.maxWaitSeconds = config.maxWaitSeconds ?? 120;
    this.retry = { attempts: config.attempts ?? 6, baseDelayMs: 500, maxDelayMs: 10_000 };
    // One bucket for every client: the rate stays within Route 53's limit even
    // when several zone roles lead to the same account.
    const bucket = new TokenBucket(config.requestsPerSecond ?? 4);
    const credentialsFor = config.credentials ?? staticCredentials(config);
    const clients = new Map<string, Route53Client>();
    this.clientFor = (zone) => {
      const scoped = credentialsFor(zone);
      const key = scoped?.key ?? 'default chain';
      let client = clients.get(key);
      if (client === undefined) {
        client = new Route53Client({
          region: config.region,
          endpoint: config.endpoint,
          credentials: scoped?.provider,
          maxAttempts: 1,
          requestHandler: {
            connectionTimeout: config.connectionTimeoutMs ?? 5_000,
            requestTimeout: config.requestTimeoutMs ?? 15_000,
            // Without this the SDK only logs a warning when requestTimeout passes.
            throwOnRequestTimeout: true,
          },
        });
        client.middlewareStack.add(
          (next) => async (args) => {
            await bucket.take();
            return next(args);
          },
          { step: 'finalizeRequest', name: 'autotlsRoute53RateLimit' },
        );
        clients.set(key, client);
      }
      return client;
    };
    this.client = this.clientFor(undefined);
  }

  /**
   * Adds `values` to the TXT record set at `fqdn`, keeping every value already
   * there, as lego's route53 provider does: read the set, UPSERT the union.
   * Route 53 has no conditional UPSERT, so a concurrent writer between our read
   * and our write can undo one of the two: writers inside this process take
   * turns per name, and every write is checked by reading the set back and
   * retried (bounded) when our values are missing.
   */
  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    const wanted = [...new Set(values)];
    await this.serialized(zone, fqdn, () =>
      this.readModifyWrite(zone, fqdn, 'add', (current) => {
        const missing = wanted.filter((v) => !current.includes(v));
        return missing.length === 0 ? undefined : [...current, ...missing];
      }, (after) => wanted.every((v) => after.includes(v))),
    );
  }

  /**
   * Removes exactly `values`: an UPSERT of the remainder when other values stay,
   * a DELETE of exactly the current set when nothing else is left. A DELETE
   * refused because the set changed since our read (InvalidChangeBatch on AWS,
   * InvalidInput on moto) means: read again. Values that are not there: nothing to do.
   */
  async removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    const unwanted = new Set(values);
    await this.serialized(zone, fqdn, () =>
      this.readModifyWrite(zone, fqdn, 'remove', (current) => {
        const remainder = current.filter((v) => !unwanted.has(v));
        return remainder.length === current.length ? undefined : remainder;
      }, (after) => after.every((v) => !unwanted.has(v))),
    );
  }

  /** One write at a time per record name in this process (AutoTLS validates several domains at once, possibly at one CNAME target). */
  private serialized<T>(zone: string, fqdn: string, fn: () => Promise<T>): Promise<T> {
    return this.writers.run(`${bareZoneId(zone)}|${normalizeName(fqdn)}`, fn);
  }

  /**
   * Reads the set, asks `next` for the values it should hold (undefined: nothing to
   * change), writes them, waits for INSYNC and checks the result with `done`. A
   * refused DELETE or a failed check means: read again. Bounded: `CAS_ROUNDS` rounds.
   */
  private async readModifyWrite(
    zone: string,
    fqdn: string,
    what: 'add' | 'remove',
    next: (current: string[]) => string[] | undefined,
    done: (after: string[]) => boolean,
  ): Promise<void> {
    for (let round = 1; round <= CAS_ROUNDS; round++) {
      const existing = await this.recordSet(zone, fqdn);
      const current = (existing?.ResourceRecords ?? []).map((r) => unquoteTxt(r.Value ?? ''));
      const values = next(current);
      if (values === undefined) return;
      // The remainder (or the union) as an UPSERT; a DELETE, which must name the set
      // exactly as Route 53 holds it, only when nothing else is left.
      // Values already there keep their record exactly as written (e.g. another client's "a" "b").
      const raw = new Map((existing?.ResourceRecords ?? []).map((r) => [unquoteTxt(r.Value ?? ''), r.Value ?? '']));
      const records = values.map((v) => ({ Value: raw.get(v) ?? quoteTxt(v) }));
      const changes: Change[] =
        values.length > 0
          ? [{ Action: 'UPSERT', ResourceRecordSet: { Name: normalizeName(fqdn), Type: 'TXT', TTL: existing?.TTL ?? this.ttl, ResourceRecords: records } }]
          : existing
            ? [{ Action: 'DELETE', ResourceRecordSet: existing }]
            : [];
      if (changes.length === 0) return;
      try {
        const changeId = await this.change(zone, fqdn, changes);
        await this.waitInSync(zone, changeId, fqdn);
      } catch (error) {
        if (!(error instanceof DnsProviderError && isLostRace(error.cause))) throw error;
        this.logger.debug({ fqdn, round, what }, 'route53: the record set changed since it was read; reading it again');
        await sleep(backoffDelay(round - 1, { attempts: CAS_ROUNDS, baseDelayMs: 100, maxDelayMs: 1_000 }));
        continue;
      }
      const after = await this.listTxt(zone, fqdn);
      if (done(after)) return;
      this.logger.debug({ fqdn, round, what }, 'route53: a concurrent write undid ours; writing again');
    }
    throw new DnsProviderError(`Route53: could not ${what} TXT values at ${fqdn}: the record set kept changing under us (${CAS_ROUNDS} rounds)`);
  }

  async listTxt(zone: string, fqdn: string): Promise<string[]> {
    const set = await this.recordSet(zone, fqdn);
    return (set?.ResourceRecords ?? []).map((r) => unquoteTxt(r.Value ?? ''));
  }

  async findZone(fqdn: string): Promise<string | undefined> {
    for (const candidate of ancestorsOf(fqdn)) {
      const out = await this.send('ListHostedZonesByName', () =>
        this.client.send(new ListHostedZonesByNameCommand({ DNSName: candidate, MaxItems: 10 })),
      );
      const zone = (out.HostedZones ?? []).find((z) => normalizeName(z.Name ?? '') === candidate && !z.Config?.PrivateZone);
      if (zone?.Id) return bareZoneId(zone.Id);
    }
    return undefined;
  }

  /** The TXT record set at exactly `fqdn`, as Route 53 holds it. */
  private async recordSet(zone: string, fqdn: string): Promise<ResourceRecordSet | undefined> {
    const name = normalizeName(fqdn);
    const out = await this.send('ListResourceRecordSets', () =>
      this.clientFor(zone).send(
        new ListResourceRecordSetsCommand({ HostedZoneId: bareZoneId(zone), StartRecordName: name, StartRecordType: 'TXT', MaxItems: 1 }),
      ),
    );
    // Route 53 writes some characters as \NNN octal (e.g. `*` as \052); ours are plain.
    return (out.ResourceRecordSets ?? []).find((s) => s.Type === 'TXT' && normalizeName(unquoteOctal(s.Name ?? '')) === name);
  }

  private async change(zone: string, fqdn: string, changes: Change[]): Promise<string> {
    const actions = changes.map((c) => c.Action).join('+');
    const out = await this.send(`ChangeResourceRecordSets ${actions}`, () =>
      this.clientFor(zone).send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: bareZoneId(zone),
          ChangeBatch: { Comment: 'autotls dns-01', Changes: changes },
        }),
      ),
    );
    this.logger.debug({ zone, fqdn, actions, change: out.ChangeInfo?.Id }, 'route53 change');
    return out.ChangeInfo?.Id ?? '';
  }

  private async waitInSync(zone: string, changeId: string, fqdn: string): Promise<void> {
    if (!changeId) return;
    const started = performance.now();
    try {
      await waitUntilResourceRecordSetsChanged(
        { client: this.clientFor(zone), maxWaitTime: this.maxWaitSeconds, minDelay: 2, maxDelay: 10 },
        { Id: changeId },
      );
    } catch (error) {
      throw new DnsProviderError(
        `Route53: change ${changeId} for ${fqdn} was not INSYNC within ${this.maxWaitSeconds} s (${(error as Error).message})`,
        { cause: error },
      );
    }
    this.logger.debug({ fqdn, change: changeId, ms: Math.round(performance.now() - started) }, 'route53 change INSYNC');
  }

  private async send<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, {
        policy: this.retry,
        classify: (error) => ({ retry: isTransient(error) }),
        onRetry: (error, attempt, delayMs) =>
          this.logger.warn({ operation, attempt, delayMs, err: (error as AwsLikeError).name }, 'route53: retrying'),
      });
    } catch (error) {
      const e = (error ?? {}) as AwsLikeError;
      throw new DnsProviderError(`Route53 ${operation} failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`, { cause: error });
    }
  }
}

/** The static keys of `config` (with their session token) for every zone; undefined: the SDK's default chain. */
function staticCredentials(config: Route53Config): (zone: string | undefined) => ScopedCredentials | undefined {
  const { accessKeyId, secretAccessKey, sessionToken } = config;
  if (!accessKeyId || !secretAccessKey) return () => undefined;
  const fixed = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  const scoped: ScopedCredentials = { key: 'static', provider: () => Promise.resolve(fixed) };
  return () => scoped;
}

function unquoteOctal(name: string): string {
  return name.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
