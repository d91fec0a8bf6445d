// A local stand-in for Slack incoming webhooks:
//   POST /services/<T>/<B>/<X>  JSON body  -> 200 "ok" (text/html)
//   bad JSON                              -> 400 "invalid_payload"
//   JSON without text/blocks/attachments  -> 400 "no_text"
//   any other path                        -> 404 "no_service"
//   failNext(n) / setFailing(true)        -> 500 "internal_error"
//   more than ~1 post a second per webhook -> 429 with Retry-After (seconds)
// Rate limit, from https://api.slack.com/docs/rate-limits: "Posting messages:
// 1 per second. Short bursts >1 allowed." and "If you go over these limits when
// using our HTTP based APIs, including Incoming Webhooks, Slack will start
// returning a HTTP 429 Too Many Requests error ... and a Retry-After header
// containing the number of seconds until you can retry." Slack does not publish
// the burst size; the fake allows a burst of `burst` (default 5) and refills
// `perSecond` (default 1) per second, per webhook (each webhook posts to one
// channel). The 429 body text is ours: Slack documents the status and header only.
// Every request to a /services/... path is recorded in `posts`, with the status
// it was answered with (so retries after a 500 show up as separate entries).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackPost {
  path: string;
  workspace: string;
  /** `<B>/<X>` part of the webhook path. */
  key: string;
  headers: IncomingMessage['headers'];
  raw: string;
  /** Parsed JSON body, or undefined when it did not parse. */
  body: unknown;
  /** Convenience: body.text when it is a string. */
  text?: string;
  status: number;
  receivedAt: Date;
}

export interface SlackFake {
  baseUrl: string;
  /** Webhook URL for a workspace/key, e.g. http://127.0.0.1:1234/services/T000/B000/XXXX */
  url(workspace?: string, key?: string): string;
  /** Every post, in arrival order (including rejected ones; see `status`). */
  posts: SlackPost[];
  /** Posts answered 200. */
  delivered(): SlackPost[];
  /** The next `n` posts answer 500 internal_error. */
  failNext(n?: number): void;
  /** While true, every post answers 500 internal_error. */
  setFailing(failing: boolean): void;
  /** Resolves when at least `n` delivered posts have arrived. */
  waitForPosts(n: number, timeoutMs?: number): Promise<SlackPost[]>;
  /** Rate limit per webhook: sustained posts per second and burst size; null turns it off. */
  setRateLimit(limit: RateLimit | null): void;
  /** Forget recorded posts, failure settings and rate-limit state (the limit itself returns to the default). */
  reset(): void;
  stop(): Promise<void>;
}

export interface RateLimit {
  perSecond: number;
  burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 1, burst: 5 };

const SERVICE_PATH = /^\/services\/([^/]+)\/([^/]+\/[^/]+)\/?$/;

export async function startSlackFake(options: { rateLimit?: RateLimit | null } = {}): Promise<SlackFake> {
  const posts: SlackPost[] = [];
  let failCount = 0;
  let failing = false;
  const initialLimit = options.rateLimit === undefined ? DEFAULT_RATE_LIMIT : options.rateLimit;
  let rateLimit = initialLimit;
  /** Token buckets per webhook key. */
  const buckets = new Map<string, { tokens: number; at: number }>();
  const waiters = new Set<() => void>();

  /** Takes a token from the webhook's bucket; answers the seconds to wait when there is none. */
  const throttle = (key: string): number | undefined => {
    if (!rateLimit) return undefined;
    const now = Date.now();
    const bucket = buckets.get(key) ?? { tokens: rateLimit.burst, at: now };
    bucket.tokens = Math.min(rateLimit.burst, bucket.tokens + ((now - bucket.at) / 1000) * rateLimit.perSecond);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rateLimit.perSecond));
  };

  const reply = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://localhost');
      const m = SERVICE_PATH.exec(url.pathname);
      if (!m || req.method !== 'POST') {
        reply(res, 404, 'no_service');
        return;
      }
      let body: unknown;
      let status: number;
      let answer: string;
      const contentType = String(req.headers['content-type'] ?? '');
      let payload = raw;
      if (contentType.startsWith('application/x-www-form-urlencoded')) payload = new URLSearchParams(raw).get('payload') ?? '';
      try {
        body = JSON.parse(payload);
      } catch {
        body = undefined;
      }
      const wait = throttle(m[2] ?? '');
      let headers: Record<string, string> = {};
      if (wait !== undefined) {
        status = 429;
        answer = 'rate_limited';
        headers = { 'retry-after': String(wait) };
      } else if (failing || failCount > 0) {
        if (!failing) failCount--;
        status = 500;
        answer = 'internal_error';
      } else if (body === undefined || typeof body !== 'object' || body === null || Array.isArray(body)) {
        status = 400;
        answer = 'invalid_payload';
      } else if (!hasContent(body as Record<string, unknown>)) {
        status = 400;
        answer = 'no_text';
      } else {
        status = 200;
        answer = 'ok';
      }
      const rec: SlackPost = {
        path: url.pathname,
        workspace: m[1] ?? '',
        key: m[2] ?? '',
        headers: req.headers,
        raw,
        body,
        status,
        receivedAt: new Date(),
      };
      const text = body && typeof body === 'object' ? (body as Record<string, unknown>).text : undefined;
      if (typeof text === 'string') rec.text = text;
      posts.push(rec);
      reply(res, status, answer, headers);
      for (const w of waiters) w();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const delivered = (): SlackPost[] => posts.filter((p) => p.status === 200);

  return {
    baseUrl,
    url: (workspace = 'T000', key = 'B000/XXXX') => `${baseUrl}/services/${workspace}/${key}`,
    posts,
    delivered,
    failNext(n = 1) { failCount += n; },
    setFailing(f) { failing = f; },
    waitForPosts(n, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (delivered().length >= n) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(delivered());
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`slack fake: expected ${n} delivered posts, got ${delivered().length} after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    setRateLimit(limit) {
      rateLimit = limit;
      buckets.clear();
    },
    reset() {
      posts.length = 0;
      failCount = 0;
      failing = false;
      rateLimit = initialLimit;
      buckets.clear();
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

function hasContent(body: Record<string, unknown>): boolean {
  const nonEmpty = (v: unknown): boolean => (typeof v === 'string' ? v.length > 0 : Array.isArray(v) ? v.length > 0 : false);
  return nonEmpty(body.text) || nonEmpty(body.blocks) || nonEmpty(body.attachments);
}
