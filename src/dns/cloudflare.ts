/**
 * Cloudflare DNS through the v4 REST API, with an API token (Bearer).
 *
 * Configuration follows lego's cloudflare provider (CLOUDFLARE_DNS_API_TOKEN,
 * CLOUDFLARE_API_URL). The zone handle is the Cloudflare zone id.
 *
 * Why plain `fetch` and not the official `cloudflare` npm package: we use four
 * endpoints. The package (v7 at the time of writing, generated from the whole
 * API) is large, declares no `engines` range so Node 20 support is not stated,
 * and brings its own retry and timeout policy; here the policy must match the
 * other providers (bounded retries, Retry-After honoured up to a cap, a timeout
 * on every request, no token in any message). With `fetch` that is ~200 lines.
 */
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { withRetry, type RetryDecision, type RetryPolicy } from '../util/retry.js';
import { safeJson } from '../util/json.js';
import { exchange, TransientApiError } from './http-api.js';
import { ancestorsOf, normalizeName, quoteTxt } from './wire.js';

export interface CloudflareConfig {
  apiToken: string;
  /** Default `https://api.cloudflare.com/client/v4`. */
  apiUrl?: string;
  /** TTL of the TXT records written. Default 120 s (Cloudflare's minimum outside Enterprise). */
  ttl?: number;
  /** Timeout of one HTTP request. Default 10 s. */
  timeoutMs?: number;
  /** Attempts in total for 429, 5xx and network errors. Default 4. */
  attempts?: number;
  /** Upper bound for a Retry-After wait. Default 30 s. */
  maxRetryAfterMs?: number;
  /** Page size when listing records. Default 100. */
  perPage?: number;
}

export const DEFAULT_CLOUDFLARE_API_URL = 'https://api.cloudflare.com/client/v4';

const apiMessage = z.object({ code: z.number(), message: z.string() });

const envelope = z.object({
  success: z.boolean(),
  errors: z.array(apiMessage).default([]),
  messages: z.array(z.unknown()).default([]),
  result: z.unknown(),
  result_info: z
    .object({
      page: z.number(),
      per_page: z.number(),
      total_pages: z.number().optional(),
      count: z.number().optional(),
      total_count: z.number().optional(),
    })
    .nullish(),
});

const dnsRecord = z.object({ id: z.string(), type: z.string(), name: z.string(), content: z.string() });
type DnsRecord = z.infer<typeof dnsRecord>;
const zone = z.object({ id: z.string(), name: z.string() });

/** Error codes Cloudflare uses for a missing, malformed or insufficient credential. */
const AUTH_ERROR_CODES = new Set([6003, 6103, 6111, 9103, 9106, 9109, 10000, 10001]);
const IDENTICAL_RECORD_EXISTS = 81058;
const RECORD_DOES_NOT_EXIST = 81044;

export class CloudflareApiError extends DnsProviderError {
  constructor(
    message: string,
    readonly status: number,
    readonly codes: number[],
  ) {
    super(message);
    this.name = 'CloudflareApiError';
  }
}

/** A failure worth another attempt: network error, timeout, 429 or 5xx. */
type Envelope = z.infer<typeof envelope>;

export class CloudflareProvider implements DnsProvider {
  readonly name = 'cloudflare';
  private readonly apiUrl: string;
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly perPage: number;
  private readonly maxRetryAfterMs: number;
  private readonly retry: RetryPolicy;

  constructor(
    private readonly config: CloudflareConfig,
    private readonly logger: Logger,
  ) {
    if (!config.apiToken) throw new DnsProviderError('Cloudflare: CLOUDFLARE_DNS_API_TOKEN is not set');
    this.apiUrl = (config.apiUrl ?? DEFAULT_CLOUDFLARE_API_URL).replace(/\/+$/, '');
    this.ttl = config.ttl ?? 120;
    this.timeoutMs = config.timeoutMs ?? 10_000;
    this.perPage = config.perPage ?? 100;
    this.maxRetryAfterMs = config.maxRetryAfterMs ?? 30_000;
    this.retry = { attempts: config.attempts ?? 4, baseDelayMs: 250, maxDelayMs: this.maxRetryAfterMs };
  }

  /**
   * Cloudflare keeps one TXT record per value, several at one name: each of our
   * values missing there gets a record of its own; records already there (ours
   * from an earlier attempt, or anyone else's) are not touched.
   */
  async addTxt(zoneId: string, fqdn: string, values: string[]): Promise<void> {
    const present = new Set((await this.records(zoneId, fqdn)).map((r) => txtContent(r.content)));
    const missing = [...new Set(values)].filter((value) => !present.has(value));
    await Promise.all(missing.map((value) => this.createRecord(zoneId, fqdn, value)));
  }

  /** Deletes, by id, exactly the records holding one of `values`; every other record at the name stays. */
  async removeTxt(zoneId: string, fqdn: string, values: string[]): Promise<void> {
    const ours = new Set(values);
    const existing = await this.records(zoneId, fqdn);
    await Promise.all(existing.filter((r) => ours.has(txtContent(r.content))).map((r) => this.deleteRecord(zoneId, r.id)));
  }

  async listTxt(zoneId: string, fqdn: string): Promise<string[]> {
    return (await this.records(zoneId, fqdn)).map((r) => txtContent(r.content));
  }

  async findZone(fqdn: string): Promise<string | undefined> {
    for (const candidate of ancestorsOf(fqdn)) {
      const body = await this.request('GET', '/zones', { query: { name: candidate } });
      const zones = z.array(zone).parse(body.result);
      const match = zones.find((zn) => normalizeName(zn.name) === candidate);
      if (match) return match.id;
    }
    return undefined;
  }

  private async records(zoneId: string, fqdn: string): Promise<DnsRecord[]> {
    const name = normalizeName(fqdn);
    const all: DnsRecord[] = [];
    // Bounded: 100 pages of `perPage` TXT records at one name is far beyond any real zone.
    for (let page = 1; page <= 100; page++) {
      const body = await this.request('GET', `/zones/${encodeURIComponent(zoneId)}/dns_records`, {
        query: { type: 'TXT', name, page: String(page), per_page: String(this.perPage) },
      });
      const records = z.array(dnsRecord).parse(body.result);
      all.push(...records.filter((r) => r.type === 'TXT' && normalizeName(r.name) === name));
      const totalPages = body.result_info?.total_pages ?? 1;
      if (page >= totalPages || records.length === 0) break;
    }
    return all;
  }

  private async createRecord(zoneId: string, fqdn: string, value: string): Promise<void> {
    try {
      await this.request('POST', `/zones/${encodeURIComponent(zoneId)}/dns_records`, {
        // "The content must consist of quoted character strings (RFC 1035), each with a length of up
        // to 255 bytes" (Cloudflare API, TXTRecord.content; issue 14 item 8).
        body: { type: 'TXT', name: normalizeName(fqdn), content: quoteTxt(value), ttl: this.ttl },
      });
    } catch (error) {
      // A retried POST whose first attempt went through finds its own record.
      if (error instanceof CloudflareApiError && error.codes.includes(IDENTICAL_RECORD_EXISTS)) return;
      throw error;
    }
  }

  private async deleteRecord(zoneId: string, recordId: string): Promise<void> {
    try {
      await this.request('DELETE', `/zones/${encodeURIComponent(zoneId)}/dns_records/${encodeURIComponent(recordId)}`);
    } catch (error) {
      if (error instanceof CloudflareApiError && (error.status === 404 || error.codes.includes(RECORD_DOES_NOT_EXIST))) return;
      throw error;
    }
  }

  private async request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { query?: Record<string, string>; body?: unknown } = {},
  ): Promise<Envelope> {
    const url = new URL(this.apiUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const what = `${method} ${url.pathname}`;
    return withRetry(() => this.attempt(method, url, what, options.body), {
      policy: this.retry,
      classify: (error): RetryDecision =>
        error instanceof TransientApiError ? { retry: true, delayMs: error.retryAfterMs } : { retry: false },
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn({ request: what, attempt, delayMs, err: (error as Error).message }, 'cloudflare: retrying'),
    }).catch((error: unknown) => {
      if (error instanceof DnsProviderError) throw error;
      throw new DnsProviderError(`Cloudflare ${what} failed: ${(error as Error).message}`, { cause: error });
    });
  }

  private async attempt(method: string, url: URL, what: string, body: unknown): Promise<Envelope> {
    const response = await exchange({
      method,
      url,
      headers: { authorization: `Bearer ${this.config.apiToken}` },
      body,
      what,
      timeoutMs: this.timeoutMs,
      maxRetryAfterMs: this.maxRetryAfterMs,
      logger: this.logger,
    });
    const { text } = response;

    const parsed = envelope.safeParse(safeJson(text));
    const errors = parsed.success ? parsed.data.errors : [];
    const codes = errors.map((e) => e.code);
    const detail = errors.map((e) => `${e.message} [${e.code}]`).join('; ');
    if (response.status === 401 || response.status === 403 || codes.some((c) => AUTH_ERROR_CODES.has(c))) {
      throw new CloudflareApiError(
        `Cloudflare rejected the API token for ${what} (HTTP ${response.status}${detail ? `: ${detail}` : ''}); ` +
          'check CLOUDFLARE_DNS_API_TOKEN and that it has Zone:Read and DNS:Edit on the zone',
        response.status,
        codes,
      );
    }
    if (!parsed.success) {
      throw new CloudflareApiError(`Cloudflare ${what}: unexpected answer (HTTP ${response.status}, not an API envelope)`, response.status, []);
    }
    if (!parsed.data.success || response.status >= 400) {
      throw new CloudflareApiError(`Cloudflare ${what} failed (HTTP ${response.status}): ${detail || 'no error detail'}`, response.status, codes);
    }
    return parsed.data;
  }
}

/** Cloudflare stores TXT content as sent; content written quoted ("a" "b") is unquoted and joined. */
export function txtContent(content: string): string {
  const quoted = /^\s*"((?:[^"\\]|\\.)*)"(?:\s+"((?:[^"\\]|\\.)*)")*\s*$/;
  if (!quoted.test(content)) return content;
  const parts = [...content.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\(.)/g, '$1'));
  return parts.join('');
}

