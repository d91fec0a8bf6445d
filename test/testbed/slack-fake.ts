// A local stand-in for Slack incoming webhooks:
//   POST /services/<T>/<B>/<X>  JSON body  -> 200 "ok" (text/html)
//   bad JSON                              -> 400 "invalid_payload"
//   JSON without text/blocks/attachments  -> 400 "no_text"
//   any other path                        -> 404 "no_service"
//   failNext(n) / setFailing(true)        -> 500 "internal_error"
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
  /** Forget recorded posts and failure settings. */
  reset(): void;
  stop(): Promise<void>;
}

const SERVICE_PATH = /^\/services\/([^/]+)\/([^/]+\/[^/]+)\/?$/;

export async function startSlackFake(): Promise<SlackFake> {
  const posts: SlackPost[] = [];
  let failCount = 0;
  let failing = false;
  const waiters = new Set<() => void>();

  const reply = (res: ServerResponse, status: number, text: string): void => {
    res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(text) });
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
      if (failing || failCount > 0) {
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
      reply(res, status, answer);
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
    reset() {
      posts.length = 0;
      failCount = 0;
      failing = false;
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
