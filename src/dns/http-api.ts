/**
 * One exchange with a DNS provider's JSON HTTP API (Cloudflare, PowerDNS): a
 * timeout on the whole request, and the failures worth retrying — no answer, a
 * 429 (with its Retry-After, capped) or a 5xx — thrown as TransientApiError for
 * the caller's withRetry. Any other answer is handed back for the provider to
 * read.
 */
import type { Logger } from '../logger.js';
import { parseRetryAfter } from '../util/retry.js';

export class TransientApiError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientApiError';
  }
}

export interface ApiExchange {
  method: string;
  url: URL | string;
  headers: Record<string, string>;
  body?: unknown;
  /** Names the request in errors and logs, e.g. "Cloudflare list TXT records". */
  what: string;
  timeoutMs: number;
  maxRetryAfterMs: number;
  logger: Logger;
  /** Added to the message of a 5xx (e.g. the server's own reason). */
  detail?: (text: string) => string;
}

export async function exchange(request: ApiExchange): Promise<{ status: number; text: string; headers: Headers }> {
  const { what, timeoutMs } = request;
  const started = performance.now();
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: { accept: 'application/json', ...(request.body === undefined ? {} : { 'content-type': 'application/json' }), ...request.headers },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason =
      error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError') ? `timed out after ${timeoutMs} ms` : `network error (${errorText(error)})`;
    throw new TransientApiError(`${what}: ${reason}`);
  }
  const text = await response.text().catch(() => '');
  request.logger.debug({ request: what, status: response.status, ms: Math.round(performance.now() - started) }, 'DNS API request');
  if (response.status === 429) {
    throw new TransientApiError(`${what}: rate limited (HTTP 429)`, retryAfterMs(response.headers.get('retry-after'), request.maxRetryAfterMs));
  }
  if (response.status >= 500) throw new TransientApiError(`${what}: HTTP ${response.status}${request.detail?.(text) ?? ''}`);
  return { status: response.status, text, headers: response.headers };
}

/** Retry-After in milliseconds, capped; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, capMs: number): number | undefined {
  const seconds = parseRetryAfter(header);
  return seconds === undefined ? undefined : Math.min(capMs, seconds * 1000);
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
