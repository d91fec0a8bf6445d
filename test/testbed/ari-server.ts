// A small HTTPS ACME front for tests, in front of the real Pebble, for what
// Pebble cannot be made to show: an ARI window chosen by the test, an
// `explanationURL`, a Retry-After other than Pebble 2.7.0's fixed 6 hours, a CA
// without ARI or profiles, and scripted refusals (429, 503, badNonce, alreadyReplaced).
// ARI and profiles themselves are tested against Pebble 2.7.0 directly
// (test/e2e/ari-pebble.test.ts).
//
// - It is a transparent reverse proxy: requests are forwarded to Pebble with the
//   Host header unchanged. Pebble builds every URL it hands out (directory,
//   orders, authorizations, certificates) from the Host header and checks each
//   JWS `url` against `https://<Host><path>`, so acme-client talks to this server
//   for the whole protocol and Pebble still verifies every signature, nonce and
//   DNS-01 record itself. Nothing about the protocol is faked.
// - `/dir` is Pebble's directory with `renewalInfo` pointing here (or, when
//   disabled, removed) and, optionally, `meta.profiles` replaced (`null`: removed).
// - `GET /renewalInfo/<certID>` answers from a programmable map (window,
//   explanationURL, Retry-After), 404 for unknown certIDs.
// - Every request is recorded with its decoded JWS payload, so a test can prove
//   what the client sent (e.g. `replaces`, `profile` in newOrder).
// - `stub()` replaces Pebble's answer for a resource once (or N times), e.g. a
//   429 with Retry-After or an `alreadyReplaced` problem.
//
// Behind it, Pebble 2.7.0 honours `profile` and checks `replaces` (Pebble 2.4.0
// ignored both); the RenewalInfo answers, though, are the test's, not the CA's.
//
// The TLS certificate is the testbed's Pebble server certificate (127.0.0.1),
// whose CA is already in NODE_EXTRA_CA_CERTS.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface AriServerOptions {
  /** Pebble's directory URL (https://127.0.0.1:<port>/dir). */
  upstreamDirectoryUrl: string;
  /** CA of Pebble's HTTPS certificate, to verify the upstream hop. */
  upstreamCa: string | Buffer;
  /** Certificate + key this server presents (must be trusted by the client process). */
  tls: { cert: string | Buffer; key: string | Buffer };
  /** Advertise `renewalInfo` (this server's) in the directory (default true); false removes it. */
  renewalInfo?: boolean;
  /** `meta.profiles` to advertise instead of Pebble's; null removes them; undefined passes Pebble's through. */
  profiles?: Record<string, string> | null;
}

export interface RenewalInfoAnswer {
  start: Date | string;
  end: Date | string;
  explanationURL?: string;
  /** Retry-After header: seconds or an HTTP date. */
  retryAfter?: number | string;
}

export interface StubbedAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Serialised as JSON (problem documents get `application/problem+json`). */
  body?: unknown;
  /** Wait this long before answering (to exercise client timeouts). */
  delayMs?: number;
}

export interface StubOptions {
  /** How many matching requests get the stub (default 1). */
  times?: number;
  /** Only requests whose decoded JWS payload satisfies this match. */
  when?: (payload: Record<string, unknown> | undefined) => boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** directory, newNonce, newAccount, newOrder, order, finalize, authz, chall, cert, renewalInfo, other */
  resource: string;
  /** Decoded JWS payload of a POST; undefined for POST-as-GET and non-JWS requests. */
  payload: Record<string, unknown> | undefined;
  /** Status sent back to the client. */
  status: number;
  stubbed: boolean;
}

/** The Pebble server certificate/key of the testbed (siblings of its CA file). */
export function pebbleServerTls(caCertPath: string): { cert: Buffer; key: Buffer } {
  const dir = path.dirname(caCertPath);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  if (!existsSync(cert) || !existsSync(key)) throw new Error(`ari-server: expected Pebble's server certificate and key next to ${caCertPath}`);
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

function resourceOf(pathname: string): string {
  if (pathname === '/dir') return 'directory';
  if (pathname === '/nonce-plz') return 'newNonce';
  if (pathname === '/sign-me-up') return 'newAccount';
  if (pathname === '/order-plz') return 'newOrder';
  const prefixes: Array<[string, string]> = [
    ['/my-order/', 'order'], ['/finalize-order/', 'finalize'], ['/authZ/', 'authz'], ['/chalZ/', 'chall'],
    ['/certZ/', 'cert'], ['/my-account/', 'account'], ['/renewalInfo/', 'renewalInfo'],
  ];
  return prefixes.find(([prefix]) => pathname.startsWith(prefix))?.[1] ?? 'other';
}

function decodeJwsPayload(body: Buffer): Record<string, unknown> | undefined {
  try {
    const jws = JSON.parse(body.toString('utf8')) as { payload?: unknown };
    if (typeof jws.payload !== 'string' || jws.payload === '') return undefined;
    const payload: unknown = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

export class AriServer {
  readonly requests: RecordedRequest[] = [];
  private readonly renewalInfos = new Map<string, RenewalInfoAnswer>();
  private readonly stubs: Array<{ resource: string; answer: StubbedAnswer; remaining: number; when?: StubOptions['when'] }> = [];
  private profiles: Record<string, string> | null | undefined;
  private readonly upstream: URL;
  private readonly timers = new Set<NodeJS.Timeout>();

  /** https://127.0.0.1:<port>, set once listening. */
  origin = '';

  private constructor(
    private readonly server: Server,
    private readonly opts: AriServerOptions,
  ) {
    this.upstream = new URL(opts.upstreamDirectoryUrl);
    this.profiles = opts.profiles;
  }

  static async start(opts: AriServerOptions): Promise<AriServer> {
    const server = createServer({ cert: opts.tls.cert, key: opts.tls.key });
    const instance = new AriServer(server, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      instance.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`ari-server: ${error instanceof Error ? error.message : String(error)}`);
      });
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
    instance.origin = `https://127.0.0.1:${port}`;
    return instance;
  }

  /** The directory URL to give the ACME client. */
  get directoryUrl(): string {
    return `${this.origin}/dir`;
  }

  setRenewalInfo(certId: string, answer: RenewalInfoAnswer): void {
    this.renewalInfos.set(certId, answer);
  }

  setProfiles(profiles: Record<string, string> | null | undefined): void {
    this.profiles = profiles;
  }

  /** Answers the next matching request(s) for `resource` with `answer` instead of Pebble's. */
  stub(resource: string, answer: StubbedAnswer, options: StubOptions = {}): void {
    this.stubs.push({ resource, answer, remaining: options.times ?? 1, ...(options.when ? { when: options.when } : {}) });
  }

  /** Forgets every stub that has not fired yet. */
  clearStubs(): void {
    this.stubs.length = 0;
  }

  /** Decoded payloads of every newOrder request, in order. */
  newOrderPayloads(): Array<Record<string, unknown>> {
    return this.requests.filter((r) => r.resource === 'newOrder').map((r) => r.payload ?? {});
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', this.origin);
    const resource = resourceOf(url.pathname);
    const method = req.method ?? 'GET';
    const payload = method === 'POST' ? decodeJwsPayload(body) : undefined;
    const record = (status: number, stubbed: boolean) => this.requests.push({ method, path: url.pathname, resource, payload, status, stubbed });

    const stub = this.stubs.find((s) => s.resource === resource && s.remaining > 0 && (!s.when || s.when(payload)));
    if (stub) {
      stub.remaining -= 1;
      if (stub.answer.delayMs) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => { this.timers.delete(timer); resolve(); }, stub.answer.delayMs);
          this.timers.add(timer);
        });
        if (res.destroyed) {
          record(0, true);
          return;
        }
      }
      const isProblem = typeof stub.answer.body === 'object' && stub.answer.body !== null && 'type' in stub.answer.body;
      const text = stub.answer.body === undefined ? '' : JSON.stringify(stub.answer.body);
      res.writeHead(stub.answer.status, {
        'content-type': isProblem ? 'application/problem+json' : 'application/json',
        ...(stub.answer.headers ?? {}),
      });
      res.end(method === 'HEAD' ? undefined : text);
      record(stub.answer.status, true);
      return;
    }

    if (resource === 'renewalInfo' && method === 'GET') {
      const certId = decodeURIComponent(url.pathname.slice('/renewalInfo/'.length));
      const answer = this.renewalInfos.get(certId);
      if (!answer || this.opts.renewalInfo === false) {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: `unknown certificate ${certId}`, status: 404 }));
        record(404, false);
        return;
      }
      const toIso = (d: Date | string) => (d instanceof Date ? d.toISOString() : d);
      res.writeHead(200, {
        'content-type': 'application/json',
        ...(answer.retryAfter !== undefined ? { 'retry-after': String(answer.retryAfter) } : {}),
      });
      res.end(JSON.stringify({
        suggestedWindow: { start: toIso(answer.start), end: toIso(answer.end) },
        ...(answer.explanationURL ? { explanationURL: answer.explanationURL } : {}),
      }));
      record(200, false);
      return;
    }

    const upstream = await this.forward(method, url.pathname + url.search, req.headers, body);
    let responseBody = upstream.body;
    if (resource === 'directory' && upstream.status === 200) {
      const directory = JSON.parse(upstream.body.toString('utf8')) as Record<string, unknown> & { meta?: Record<string, unknown> };
      if (this.opts.renewalInfo !== false) directory.renewalInfo = `${this.origin}/renewalInfo`;
      else delete directory.renewalInfo;
      if (this.profiles === null) {
        if (directory.meta) delete directory.meta.profiles;
      } else if (this.profiles) {
        directory.meta = { ...(directory.meta ?? {}), profiles: this.profiles };
      }
      responseBody = Buffer.from(JSON.stringify(directory));
    }
    if ((resource === 'newAccount' || resource === 'account') && upstream.status < 300) {
      // Pebble builds the account's `orders` URL (RFC 8555 §7.1.2.1) from its own listen
      // address, not from Host: point it here too, as a CA behind a reverse proxy does.
      responseBody = Buffer.from(responseBody.toString('utf8').replaceAll(this.upstream.origin, this.origin));
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    res.writeHead(upstream.status, headers);
    res.end(method === 'HEAD' ? undefined : responseBody);
    record(upstream.status, false);
  }

  private forward(method: string, pathAndQuery: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const outgoing = httpsRequest({
        host: this.upstream.hostname,
        port: this.upstream.port,
        method,
        path: pathAndQuery,
        // Host stays ours: Pebble then builds URLs pointing here and checks JWS urls against them.
        headers: { ...headers, 'content-length': String(body.length) },
        ca: this.opts.upstreamCa,
        servername: 'localhost',
        timeout: 10_000,
        agent: false,
      }, (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (c: Buffer) => chunks.push(c));
        upstreamRes.on('end', () => resolve({ status: upstreamRes.statusCode ?? 502, headers: upstreamRes.headers, body: Buffer.concat(chunks) }));
        upstreamRes.on('error', reject);
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error('upstream timeout')));
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}
