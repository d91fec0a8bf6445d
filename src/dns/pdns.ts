/**
 * PowerDNS Authoritative through its HTTP API (api/v1), with the server's API key.
 *
 * Configuration follows lego's pdns provider (PDNS_API_URL, PDNS_API_KEY,
 * PDNS_SERVER_NAME default `localhost`). The zone handle is the PowerDNS zone
 * name (`example.com`, a trailing dot is accepted).
 *
 * PowerDNS keeps one RRset per name and type and changes it whole: PATCH
 * /api/v1/servers/{server}/zones/{zone} with `changetype: REPLACE` (the new
 * records) or `DELETE` (https://doc.powerdns.com/authoritative/http-api/zone.html,
 * "Creating new RRset", "Deleting a RRset"). As lego's provider does, adding
 * means: read the RRset, REPLACE it with the union; removing: REPLACE it with
 * the remainder, DELETE it when nothing is left. Records of other clients are
 * written back exactly as PowerDNS returned them (content and `disabled`), and
 * the RRset keeps its TTL.
 *
 * PowerDNS 4.x has no conditional write, so a concurrent writer between our read
 * and our write can undo one of the two: writers in this process take turns per
 * name, and every write is checked by reading the RRset back and done again
 * (bounded) when our values are missing (add) or still there (remove), as the
 * Route 53 provider does. A change is served by the primary at once (the API
 * purges the packet cache of the zone); reaching secondaries is the propagation
 * check's job, so no NOTIFY is sent here.
 */
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { backoffDelay, sleep, withRetry, type RetryDecision, type RetryPolicy } from '../util/retry.js';
import { safeJson } from '../util/json.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import { exchange, TransientApiError } from './http-api.js';
import { ancestorsOf, normalizeName, quoteTxt, unquoteCharacterStrings } from './wire.js';

export interface PdnsConfig {
  /** PDNS_API_URL: the webserver's base URL (`http://host:8081`); `/api/v1` is appended unless the URL already ends with it. */
  apiUrl: string;
  /** PDNS_API_KEY, sent as `X-API-Key`. */
  apiKey: string;
  /** PDNS_SERVER_NAME. Default `localhost` (the only id PowerDNS Authoritative answers to). */
  serverName?: string;
  /** TTL of an RRset we create. Default 60 s (an existing RRset keeps its TTL). */
  ttl?: number;
  /** Timeout of one HTTP request. Default 10 s. */
  timeoutMs?: number;
  /** Attempts in total for 429, 5xx and network errors. Default 4. */
  attempts?: number;
  /** Upper bound for a Retry-After wait (and any backoff). Default 30 s. */
  maxRetryAfterMs?: number;
  /** Read-modify-write rounds when a concurrent writer undoes ours. Default 5. */
  rounds?: number;
}

const record = z.object({ content: z.string(), disabled: z.boolean().default(false) });
type PdnsRecord = z.infer<typeof record>;
const rrset = z.object({ name: z.string(), type: z.string(), ttl: z.number().optional(), records: z.array(record).default([]) });
type RRSet = z.infer<typeof rrset>;
const zoneDocument = z.object({ name: z.string(), rrsets: z.array(rrset).default([]) });
const zoneList = z.array(z.object({ id: z.string(), name: z.string() }));

export class PdnsApiError extends DnsProviderError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'PdnsApiError';
  }
}

/** A failure worth another attempt: network error, timeout, 429 or 5xx. */
type Method = 'GET' | 'PATCH';

export class PdnsProvider implements DnsProvider {
  readonly name = 'pdns';
  private readonly apiBase: string;
  private readonly serverName: string;
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly rounds: number;
  private readonly retry: RetryPolicy;
  private readonly writers = new KeyedQueue();

  constructor(
    private readonly config: PdnsConfig,
    private readonly logger: Logger,
  ) {
    if (!config.apiKey) throw new DnsProviderError('PowerDNS: PDNS_API_KEY is not set');
    if (!config.apiUrl) throw new DnsProviderError('PowerDNS: PDNS_API_URL is not set');
    const base = config.apiUrl.replace(/\/+$/, '');
    this.apiBase = /\/api\/v1$/.test(base) ? base : `${base}/api/v1`;
    this.serverName = config.serverName || 'localhost';
    this.ttl = config.ttl ?? 60;
    this.timeoutMs = config.timeoutMs ?? 10_000;
    this.maxRetryAfterMs = config.maxRetryAfterMs ?? 30_000;
    this.rounds = config.rounds ?? 5;
    this.retry = { attempts: config.attempts ?? 4, baseDelayMs: 250, maxDelayMs: this.maxRetryAfterMs };
  }

  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    const wanted = [...new Set(values)];
    if (wanted.length === 0) return;
    await this.serialized(zone, fqdn, () =>
      this.readModifyWrite(
        zone,
        fqdn,
        'add',
        (current) => {
          const enabled = new Set(current.filter((r) => !r.disabled).map((r) => txtContent(r.content)));
          const missing = wanted.filter((v) => !enabled.has(v));
          if (missing.length === 0) return undefined;
          // A disabled record holding one of our values is replaced by an enabled one.
          const ours = new Set(missing);
          const kept = current.filter((r) => !(r.disabled && ours.has(txtContent(r.content))));
          return [...kept, ...missing.map((v) => ({ content: quoteTxt(v), disabled: false }))];
        },
        (after) => wanted.every((v) => after.includes(v)),
      ),
    );
  }

  async removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    const unwanted = new Set(values);
    if (unwanted.size === 0) return;
    await this.serialized(zone, fqdn, () =>
      this.readModifyWrite(
        zone,
        fqdn,
        'remove',
        (current) => {
          const remainder = current.filter((r) => !unwanted.has(txtContent(r.content)));
          return remainder.length === current.length ? undefined : remainder;
        },
        (after) => after.every((v) => !unwanted.has(v)),
      ),
    );
  }

  async listTxt(zone: string, fqdn: string): Promise<string[]> {
    const set = await this.rrset(zone, fqdn, 'listing');
    return (set?.records ?? []).filter((r) => !r.disabled).map((r) => txtContent(r.content));
  }

  /** The deepest PowerDNS zone that holds `fqdn`: GET …/zones?zone=<each ancestor>. */
  async findZone(fqdn: string): Promise<string | undefined> {
    for (const candidate of ancestorsOf(fqdn)) {
      const body = await this.request('GET', this.serverPath('/zones'), `looking up the zone of ${fqdn}`, { query: { zone: `${candidate}.` } });
      const zones = parse(zoneList, body, `looking up the zone of ${fqdn}`);
      const match = zones.find((zn) => normalizeName(zn.name) === candidate);
      if (match) return normalizeName(match.name);
    }
    return undefined;
  }

  /**
   * Reads the RRset, asks `next` for the records it should hold (undefined:
   * nothing to change), writes them (REPLACE, or DELETE when empty) and checks
   * the result with `done`; a failed check means another writer came between
   * our read and our write: read again, `rounds` times at most.
   */
  private async readModifyWrite(
    zone: string,
    fqdn: string,
    what: 'add' | 'remove',
    next: (current: PdnsRecord[]) => PdnsRecord[] | undefined,
    done: (after: string[]) => boolean,
  ): Promise<void> {
    const step = what === 'add' ? `adding TXT values at ${fqdn}` : `removing TXT values at ${fqdn}`;
    const name = `${normalizeName(fqdn)}.`;
    for (let round = 1; round <= this.rounds; round++) {
      const existing = await this.rrset(zone, fqdn, step, true);
      const records = next(existing?.records ?? []);
      if (records === undefined) return;
      const change =
        records.length > 0
          ? { name, type: 'TXT', ttl: existing?.ttl ?? this.ttl, changetype: 'REPLACE', records }
          : { name, type: 'TXT', changetype: 'DELETE' };
      // REPLACE and DELETE set a state, so a retried PATCH after a lost answer is harmless;
      // a concurrent writer is caught by the read-back below.
      await this.request('PATCH', this.zonePath(zone), step, { body: { rrsets: [change] } });
      this.logger.debug({ zone, fqdn, changetype: change.changetype, records: records.length }, 'pdns change');
      if (done(await this.listTxt(zone, fqdn))) return;
      this.logger.debug({ fqdn, round, what }, 'pdns: a concurrent write undid ours; writing again');
      await sleep(backoffDelay(round - 1, { attempts: this.rounds, baseDelayMs: 100, maxDelayMs: 1_000 }));
    }
    throw new DnsProviderError(`PowerDNS: ${step}: the RRset kept changing under us (${this.rounds} rounds)`);
  }

  /**
   * The TXT RRset at exactly `fqdn`. `rrset_name`/`rrset_type` narrow the answer to
   * one RRset, but PowerDNS (4.7.3 at least) then leaves out disabled records, so
   * a read that is written back (`whole`) lists the whole zone, where disabled
   * records are included: another client's disabled record must survive our REPLACE.
   */
  private async rrset(zone: string, fqdn: string, step: string, whole = false): Promise<RRSet | undefined> {
    const name = normalizeName(fqdn);
    const query: Record<string, string> = whole ? {} : { rrset_name: `${name}.`, rrset_type: 'TXT' };
    const body = await this.request('GET', this.zonePath(zone), step, { query });
    const doc = parse(zoneDocument, body, step);
    return doc.rrsets.find((s) => s.type === 'TXT' && normalizeName(s.name) === name);
  }

  private serverPath(suffix: string): string {
    return `/servers/${encodeURIComponent(this.serverName)}${suffix}`;
  }

  private zonePath(zone: string): string {
    return this.serverPath(`/zones/${encodeURIComponent(canonicalZone(zone))}`);
  }

  /** One write at a time per record name in this process. */
  private serialized<T>(zone: string, fqdn: string, fn: () => Promise<T>): Promise<T> {
    return this.writers.run(`${canonicalZone(zone)}|${normalizeName(fqdn)}`, fn);
  }

  private async request(
    method: Method,
    path: string,
    step: string,
    options: { query?: Record<string, string>; body?: unknown } = {},
  ): Promise<unknown> {
    const url = new URL(this.apiBase + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const what = `${method} ${url.pathname}`;
    return withRetry(() => this.attempt(method, url, what, step, options.body), {
      policy: this.retry,
      classify: (error): RetryDecision =>
        error instanceof TransientApiError ? { retry: true, delayMs: error.retryAfterMs } : { retry: false },
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn({ request: what, attempt, delayMs, err: (error as Error).message }, 'pdns: retrying'),
    }).catch((error: unknown) => {
      if (error instanceof DnsProviderError) throw error;
      throw new DnsProviderError(`PowerDNS: ${step} failed: ${(error as Error).message}`, { cause: error });
    });
  }

  private async attempt(method: Method, url: URL, what: string, step: string, body: unknown): Promise<unknown> {
    const response = await exchange({
      method,
      url,
      headers: { 'x-api-key': this.config.apiKey },
      body,
      what,
      timeoutMs: this.timeoutMs,
      maxRetryAfterMs: this.maxRetryAfterMs,
      logger: this.logger,
      detail: detailOf,
    });
    const { text } = response;
    if (response.status === 401 || response.status === 403) {
      throw new PdnsApiError(
        `PowerDNS: ${step}: the API rejected the key (HTTP ${response.status} for ${what}); ` +
          'check PDNS_API_KEY against the api-key of the server, and that webserver-allow-from admits this host',
        response.status,
      );
    }
    if (response.status === 404) {
      throw new PdnsApiError(
        `PowerDNS: ${step}: not found (HTTP 404 for ${what}); check that the zone exists on the server ` +
          `(zone_id is the PowerDNS zone name), PDNS_SERVER_NAME (now "${this.serverName}") and PDNS_API_URL`,
        404,
      );
    }
    if (response.status === 422) {
      throw new PdnsApiError(`PowerDNS: ${step}: the server refused the change (HTTP 422${detailOf(text)})`, 422);
    }
    if (response.status >= 400) {
      throw new PdnsApiError(`PowerDNS: ${step}: HTTP ${response.status} for ${what}${detailOf(text)}`, response.status);
    }
    if (response.status === 204 || text === '') return undefined;
    const json = safeJson(text);
    if (json === undefined) throw new PdnsApiError(`PowerDNS: ${step}: unexpected answer to ${what} (HTTP ${response.status}, not JSON)`, response.status);
    return json;
  }
}

/** PowerDNS names zones canonically, with the trailing dot. */
export function canonicalZone(zone: string): string {
  return `${normalizeName(zone)}.`;
}

/**
 * A TXT record's content in PowerDNS presentation format (`"a" "b"`, RFC 1035
 * §5.1, with `\"`, `\\` and `\DDD` decimal escapes) as the one value it holds.
 */
export function txtContent(content: string): string {
  return unquoteCharacterStrings(content, 10);
}

function parse<S extends z.ZodType>(schema: S, body: unknown, step: string): z.output<S> {
  const result = schema.safeParse(body);
  if (!result.success) throw new DnsProviderError(`PowerDNS: ${step}: unexpected answer (${result.error.issues[0]?.message ?? 'not the documented shape'})`);
  return result.data;
}

/** PowerDNS errors are `{"error": "…"}` (https://doc.powerdns.com/authoritative/http-api/index.html, "Errors"). */
function detailOf(text: string): string {
  const json = safeJson(text);
  if (json && typeof json === 'object' && 'error' in json && typeof json.error === 'string') return `: ${json.error.slice(0, 300)}`;
  return '';
}
