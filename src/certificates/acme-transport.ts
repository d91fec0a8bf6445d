/**
 * How AutoTLS talks HTTP to the CA, below the order protocol: a socket timeout
 * and a hard deadline on every request, the caller's abort signal on every
 * request, bounded retries of transient failures (never a blind resend of a
 * non-idempotent POST), Retry-After on 5xx, 429 → AcmeRateLimitedError wherever
 * it happens, the request metric, a Replay-Nonce pool, and the directory
 * (re-read after a TTL, or when the protocol asks).
 *
 * It wraps this client's `http` object rather than the axios instance
 * acme-client shares process-wide, so that two issuers never count each
 * other's requests.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { abortableSleep, parseRetryAfter } from '../util/retry.js';
import { isPostAsGet, type ClientInternals, type RawResponse, type RequestOptions } from './acme-internals.js';
import { directorySchema, headerValue, isProblem, isRateLimited, problemOf, retryAfterOf, type AcmeDirectory } from './acme-schemas.js';
import { AcmeError, AcmeNetworkError, AcmeOrderError, AcmeRateLimitedError, type AcmeProblem } from './errors.js';

/** Reports every HTTP exchange with the CA; `status` is 0 when no response came back. */
export type AcmeRequestListener = (endpoint: string, status: number) => void;

export interface TransportOptions {
  directoryUrl: string;
  logger: Logger | undefined;
  clock: Clock;
  /** Per HTTP request. */
  timeoutMs: number;
  onRequest: AcmeRequestListener | undefined;
}

const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_CANCELED', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ERR_NETWORK']);
/** Failures where the request cannot have reached the CA, so even a non-idempotent POST may be sent again. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND']);
const TRANSIENT_STATUSES = new Set([500, 502, 503, 504]);
/** A server error that may pass: 500, 502, 503 or 504. */
export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status);
}
/** Delays before the 2nd and 3rd attempt of a request that failed transiently. */
export const TRANSIENT_RETRY_DELAYS_MS = [500, 2_000];
/** The longest Retry-After waited for within one request; a longer one fails the step, naming when to retry. */
export const RETRY_AFTER_CAP_MS = 30_000;
/** Let's Encrypt adds and removes profiles: the directory is read again after this long. */
export const DIRECTORY_TTL_MS = 60 * 60 * 1000;
/** Unused Replay-Nonce values kept per client; more would only go stale. */
const NONCE_POOL_SIZE = 8;

const DIRECTORY_RESOURCES = ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'] as const;

interface RequestContext {
  signal?: AbortSignal | undefined;
  /** Signed POSTs with a payload in this context are sent at most once (see sendOnce). */
  once?: boolean;
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return 'no response';
}

/** The error for a step cut short by the caller's signal (shutdown, run deadline). */
export function abortedError(step: string, signal: AbortSignal | undefined, cause?: unknown): AcmeError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'the run was stopped';
  return new AcmeError(`ACME ${step}: aborted (${why})`, { cause: cause ?? reason });
}

/** Waits `ms`, or rejects with an AcmeError naming `step` as soon as `signal` aborts. */
export async function pause(ms: number, signal: AbortSignal | undefined, step: string): Promise<void> {
  try {
    await abortableSleep(ms, signal);
  } catch (error) {
    throw abortedError(step, signal, error);
  }
}

export class AcmeTransport {
  private readonly context = new AsyncLocalStorage<RequestContext>();
  private readonly nonces: string[] = [];
  private cached: { directory: AcmeDirectory; readAt: number } | undefined;

  constructor(
    private readonly internals: ClientInternals,
    private readonly opts: TransportOptions,
  ) {
    this.instrument();
  }

  /** Runs `fn` so that every ACME request it makes is cancelled when `signal` aborts. */
  withSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return signal ? this.context.run({ ...this.context.getStore(), signal }, fn) : fn();
  }

  /**
   * Runs `fn` with its signed POSTs sent at most once: after a 5xx the response
   * is returned as it is, and after a failure with no answer an AcmeNetworkError
   * is thrown at once (unless the request cannot have left this host), because
   * the CA may have acted on it (newOrder, finalize). The caller decides what to
   * do next. POST-as-GETs and the nonce requests inside keep their retries.
   */
  sendOnce<T>(fn: () => Promise<T>): Promise<T> {
    return this.context.run({ ...this.context.getStore(), once: true }, fn);
  }

  /** The caller's signal of the current context. */
  get signal(): AbortSignal | undefined {
    return this.context.getStore()?.signal;
  }

  /**
   * The directory, read again when older than DIRECTORY_TTL_MS or when `refresh`
   * is set (the CA answered as if it had changed, e.g. an unknown profile).
   */
  async directory(refresh = false): Promise<AcmeDirectory> {
    const now = this.opts.clock.now().getTime();
    if (this.cached && !refresh && now - this.cached.readAt < DIRECTORY_TTL_MS) return this.cached.directory;
    this.internals.http.directoryCache = null;
    let raw: unknown;
    try {
      raw = await this.internals.http.getDirectory();
    } catch (error) {
      if (error instanceof AcmeError) throw error;
      const cause = error instanceof Error ? `: ${error.message}` : '';
      throw new AcmeOrderError('directory', 'about:blank', `could not read the ACME directory at ${this.opts.directoryUrl}${cause}`);
    }
    const parsed = directorySchema.safeParse(raw);
    if (!parsed.success) throw new AcmeOrderError('directory', 'about:blank', `${this.opts.directoryUrl} is not an ACME directory`);
    this.cached = { directory: parsed.data, readAt: now };
    return parsed.data;
  }

  /**
   * How long to wait before attempt `attempt + 2` of a transient failure, or
   * undefined when the retries are used up. A Retry-After up to RETRY_AFTER_CAP_MS
   * is honoured; a longer one throws an AcmeOrderError that says when to retry.
   */
  retryDelay(step: string, attempt: number, response?: RawResponse): number | undefined {
    const base = TRANSIENT_RETRY_DELAYS_MS[attempt];
    if (base === undefined) return undefined;
    const hinted = response ? this.retryAfterMs(response) : undefined;
    if (hinted === undefined || !response) return base;
    if (hinted > RETRY_AFTER_CAP_MS) {
      const at = new Date(this.opts.clock.now().getTime() + hinted).toISOString();
      const problem = problemOf(response);
      throw new AcmeOrderError(step, problem?.type ?? `http-${response.status}`, `the CA is unavailable (HTTP ${response.status}) and asks to retry after ${at}`, response.status);
    }
    return Math.max(base, hinted);
  }

  /** The Retry-After of a response in milliseconds, when it has one. */
  retryAfterMs(response: RawResponse): number | undefined {
    const seconds = parseRetryAfter(headerValue(response.headers, 'retry-after'), this.opts.clock.now());
    return seconds !== undefined ? seconds * 1000 : undefined;
  }

  /** Endpoint label for metrics: the directory resource name, or the kind of object URL. */
  endpointKind(url: string): string {
    if (url === this.opts.directoryUrl) return 'directory';
    const directory = this.cached?.directory;
    if (directory) {
      for (const resource of DIRECTORY_RESOURCES) if (directory[resource] === url) return resource;
      if (directory.renewalInfo && url.startsWith(directory.renewalInfo)) return 'renewalInfo';
    }
    // Object URLs are opaque, but every CA we know names them recognisably
    // (Let's Encrypt: /acme/authz/, /acme/chall/, /acme/finalize/, /acme/cert/;
    // Pebble: /authZ/, /chalZ/, /finalize-order/, /certZ/, /list-orderz/).
    const path = (() => {
      try {
        return new URL(url).pathname.toLowerCase();
      } catch {
        return url.toLowerCase();
      }
    })();
    const kinds: Array<[string, string]> = [
      ['renewal', 'renewalInfo'], ['authz', 'authz'], ['chal', 'chall'], ['finalize', 'finalize'], ['cert', 'cert'],
      ['list-order', 'orders'], ['order', 'order'], ['acct', 'account'], ['account', 'account'], ['reg', 'account'],
    ];
    return kinds.find(([fragment]) => path.includes(fragment))?.[1] ?? 'other';
  }

  private keepNonce(endpoint: string, response: RawResponse, problem: AcmeProblem | undefined): void {
    // newNonce answers go straight to the caller, and acme-client reuses a
    // badNonce answer's nonce itself: pooling those would hand one nonce out twice.
    if (endpoint === 'newNonce' || isProblem(problem, 'badNonce')) return;
    const nonce = headerValue(response.headers, 'replay-nonce');
    if (!nonce) return;
    this.nonces.push(nonce);
    if (this.nonces.length > NONCE_POOL_SIZE) this.nonces.shift();
  }

  private instrument(): void {
    const http = this.internals.http;
    const originalGetNonce = http.getNonce.bind(http);
    http.getNonce = async (): Promise<string> => {
      const pooled = this.nonces.pop();
      if (pooled) return pooled;
      try {
        return await originalGetNonce();
      } catch (error) {
        // acme-client throws a plain Error when the answer has no Replay-Nonce.
        if (error instanceof AcmeError || !(error instanceof Error)) throw error;
        throw new AcmeOrderError('newNonce', 'about:blank', error.message);
      }
    };
    const original = http.request.bind(http);
    http.request = (url: string, method: string, opts: RequestOptions = {}): Promise<RawResponse> => this.send(original, url, method, opts);
  }

  private async send(original: ClientInternals['http']['request'], url: string, method: string, opts: RequestOptions): Promise<RawResponse> {
    const { timeoutMs, onRequest, logger } = this.opts;
    const endpoint = this.endpointKind(url);
    const { signal: caller, once } = this.context.getStore() ?? {};
    const sendOnce = once === true && method.toLowerCase() === 'post' && !isPostAsGet(opts);
    for (let attempt = 0; ; attempt += 1) {
      if (caller?.aborted) throw abortedError(`${endpoint} request`, caller);
      // `timeout` is axios's socket timeout; the deadline signal bounds the whole
      // exchange, so a peer that keeps a connection open never hangs a run, and the
      // caller's signal cancels the request at shutdown.
      const deadline = AbortSignal.timeout(timeoutMs);
      const signal = caller ? AbortSignal.any([deadline, caller]) : deadline;
      let response: RawResponse;
      try {
        response = await original(url, method, { ...opts, timeout: timeoutMs, signal });
      } catch (error) {
        onRequest?.(endpoint, 0);
        if (caller?.aborted) throw abortedError(`${endpoint} request`, caller, error);
        const code = errorCode(error);
        const retryable = sendOnce ? NEVER_SENT_CODES.has(code) : TRANSIENT_NETWORK_CODES.has(code);
        const delay = retryable ? this.retryDelay(endpoint, attempt) : undefined;
        if (delay !== undefined) {
          logger?.debug({ endpoint, code, attempt: attempt + 1 }, 'ACME request failed; retrying');
          await pause(delay, caller, `${endpoint} request`);
          continue;
        }
        throw new AcmeNetworkError(endpoint, code === 'ECONNABORTED' || code === 'ERR_CANCELED' ? `timed out after ${timeoutMs} ms` : code, { cause: error });
      }
      onRequest?.(endpoint, response.status);
      const problem = problemOf(response);
      this.keepNonce(endpoint, response, problem);
      if (isRateLimited(response, problem)) throw new AcmeRateLimitedError(endpoint, retryAfterOf(response, this.opts.clock.now()), problem?.detail ?? '');
      const delay = !sendOnce && TRANSIENT_STATUSES.has(response.status) ? this.retryDelay(endpoint, attempt, response) : undefined;
      if (delay === undefined) return response;
      logger?.debug({ endpoint, status: response.status, attempt: attempt + 1, delayMs: delay }, 'ACME server error; retrying');
      await pause(delay, caller, `${endpoint} request`);
    }
  }
}
