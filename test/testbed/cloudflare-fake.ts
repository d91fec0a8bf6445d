// A faithful, in-process fake of the Cloudflare v4 endpoints the cloudflare DNS
// provider uses, on an ephemeral loopback port:
//   GET    /client/v4/zones?name=&page=&per_page=
//   GET    /client/v4/zones/:zone_id/dns_records?type=&name=&page=&per_page=
//   POST   /client/v4/zones/:zone_id/dns_records
//   GET    /client/v4/zones/:zone_id/dns_records/:id
//   DELETE /client/v4/zones/:zone_id/dns_records/:id
// Same envelope as the real API ({ success, errors[{code,message}], messages,
// result, result_info }), same pagination (page, per_page, count, total_count,
// total_pages), the error codes Cloudflare answers with, 401 without a token and
// 403 with a wrong one, and injectable failures (429 with Retry-After, 5xx, delays).
//
// TXT records, as Cloudflare documents them:
// - Several records of one name and type are kept side by side, each with its own
//   id; a POST adds one, a DELETE by id removes exactly that one ("Create DNS
//   Record" / "Delete DNS Record", https://developers.cloudflare.com/api/resources/dns/subresources/records/).
//   Only an identical record (same type, name and content) is refused: 81058
//   "An identical record already exists."
// - "The content must consist of quoted "character strings" (RFC 1035), each with
//   a length of up to 255 bytes. Strings exceeding this allowed maximum length are
//   automatically split." (TXTRecord.content in the same API reference, also in
//   cloudflare-typescript src/resources/dns/records.ts). The fake stores quoted
//   content that way, split at 255 bytes, and returns it quoted; content sent
//   unquoted is stored as sent.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeZone {
  id: string;
  name: string;
}

export interface FakeRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  proxiable: boolean;
  created_on: string;
  modified_on: string;
}

export type InjectedFailure =
  | { status: 429; retryAfterSeconds?: number }
  | { status: 500 | 502 | 503 }
  /** Holds the answer back (to exercise client timeouts), then answers normally. */
  | { delayMs: number }
  /** Runs `before` (e.g. a concurrent change through `removeRecord`), then answers normally. */
  | { before: () => void };

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface CloudflareFake {
  /** Base URL, like https://api.cloudflare.com/client/v4. */
  url: string;
  /** Every request answered, in order. */
  requests: RecordedRequest[];
  /** Current records, optionally of one zone. */
  records(zoneId?: string): FakeRecord[];
  /** The next `count` requests fail this way (or are delayed), then normal service resumes. */
  failNext(count: number, failure: InjectedFailure): void;
  /** Deletes a record behind the client's back, as another writer would. */
  removeRecord(id: string): void;
  stop(): Promise<void>;
}

export interface CloudflareFakeOptions {
  token: string;
  zones: FakeZone[];
  /** Largest per_page accepted (Cloudflare: 5000 for dns_records, 50 for zones). */
  maxPerPage?: number;
}

interface ApiError {
  code: number;
  message: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ApiError[],
  ) {
    super(errors.map((e) => e.message).join('; '));
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function failure(errors: ApiError[]): Record<string, unknown> {
  return { success: false, errors, messages: [], result: null };
}

function paginate<T>(items: T[], query: URLSearchParams, defaultPerPage: number, maxPerPage: number): { page: T[]; info: Record<string, number> } {
  const page = query.has('page') ? Number(query.get('page')) : 1;
  const perPage = query.has('per_page') ? Number(query.get('per_page')) : defaultPerPage;
  if (!Number.isInteger(page) || page < 1) throw new HttpError(400, [{ code: 1002, message: 'Invalid page: must be a positive integer' }]);
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > maxPerPage) {
    throw new HttpError(400, [{ code: 1004, message: `Invalid per_page: must be between 1 and ${maxPerPage}` }]);
  }
  const start = (page - 1) * perPage;
  const slice = items.slice(start, start + perPage);
  return {
    page: slice,
    info: { page, per_page: perPage, count: slice.length, total_count: items.length, total_pages: Math.max(1, Math.ceil(items.length / perPage)) },
  };
}

/** TXT content as Cloudflare stores it: quoted character-strings, each split at 255 bytes; unquoted content as sent. */
export function storedTxtContent(content: string): string {
  const whole = /^\s*"((?:[^"\\]|\\.)*)"(?:\s+"((?:[^"\\]|\\.)*)")*\s*$/;
  if (!whole.test(content)) return content;
  const strings = [...content.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => Buffer.from((m[1] ?? '').replace(/\\(.)/g, '$1'), 'utf8'));
  const pieces: string[] = [];
  for (const bytes of strings) {
    for (let i = 0; i === 0 || i < bytes.length; i += 255) {
      pieces.push(`"${bytes.subarray(i, i + 255).toString('utf8').replace(/[\\"]/g, (c) => `\\${c}`)}"`);
    }
  }
  return pieces.join(' ');
}

function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startCloudflareFake(options: CloudflareFakeOptions): Promise<CloudflareFake> {
  const zones = options.zones.map((z) => ({ id: z.id, name: normalize(z.name) }));
  const records: FakeRecord[] = [];
  const requests: RecordedRequest[] = [];
  const injected: InjectedFailure[] = [];
  const maxPerPage = options.maxPerPage ?? 5000;

  const zoneById = (id: string): FakeZone => {
    const zone = zones.find((z) => z.id === id);
    if (!zone) throw new HttpError(400, [{ code: 7003, message: 'Could not route to /zones/' + id + '/dns_records, perhaps your object identifier is invalid?' }]);
    return zone;
  };

  async function handle(req: IncomingMessage, url: URL): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    // Read the whole body first, as a real server does before it acts on a request.
    const rawBody = await readBody(req);
    const auth = req.headers.authorization;
    if (!auth) return { status: 401, body: failure([{ code: 9106, message: 'Missing X-Auth-Key, X-Auth-Email or Authorization headers' }]) };
    if (!/^Bearer \S+$/.test(auth)) {
      return { status: 400, body: { ...failure([{ code: 6003, message: 'Invalid request headers' }]), errors: [{ code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] }] } };
    }
    if (auth !== `Bearer ${options.token}`) return { status: 403, body: failure([{ code: 10000, message: 'Authentication error' }]) };

    const next = injected.shift();
    if (next && 'delayMs' in next) await new Promise((r) => setTimeout(r, next.delayMs));
    else if (next && 'before' in next) next.before();
    else if (next && next.status === 429) {
      return {
        status: 429,
        body: failure([{ code: 971, message: 'Please wait and consider throttling your request speed' }]),
        headers: next.retryAfterSeconds === undefined ? {} : { 'retry-after': String(next.retryAfterSeconds) },
      };
    } else if (next) return { status: next.status, body: failure([{ code: 10002, message: 'Internal server error' }]) };

    const path = url.pathname.replace(/^\/client\/v4/, '');
    const parts = path.split('/').filter(Boolean);
    const method = req.method ?? 'GET';

    if (parts.length === 1 && parts[0] === 'zones' && method === 'GET') {
      const name = url.searchParams.get('name');
      const matching = zones.filter((z) => name === null || z.name === normalize(name));
      const { page, info } = paginate(matching, url.searchParams, 20, 50);
      return { status: 200, body: { success: true, errors: [], messages: [], result: page.map((z) => ({ id: z.id, name: z.name, status: 'active' })), result_info: info } };
    }

    if (parts[0] === 'zones' && parts[2] === 'dns_records' && parts[1]) {
      const zone = zoneById(parts[1]);
      const recordId = parts[3];
      if (parts.length === 3 && method === 'GET') {
        const type = url.searchParams.get('type');
        const name = url.searchParams.get('name');
        const matching = records.filter((r) => r.zone_id === zone.id && (type === null || r.type === type) && (name === null || r.name === normalize(name)));
        const { page, info } = paginate(matching, url.searchParams, 100, maxPerPage);
        return { status: 200, body: { success: true, errors: [], messages: [], result: page, result_info: info } };
      }
      if (parts.length === 3 && method === 'POST') {
        let body: unknown;
        try {
          body = JSON.parse(rawBody);
        } catch {
          throw new HttpError(400, [{ code: 9207, message: 'Request body is invalid.' }]);
        }
        if (typeof body !== 'object' || body === null) throw new HttpError(400, [{ code: 9207, message: 'Request body is invalid.' }]);
        const { type, name, content, ttl } = body as Record<string, unknown>;
        if (typeof type !== 'string' || !type) throw new HttpError(400, [{ code: 9004, message: 'DNS record type is invalid.' }]);
        if (typeof name !== 'string' || !name) throw new HttpError(400, [{ code: 9005, message: 'DNS record name is invalid.' }]);
        if (typeof content !== 'string') throw new HttpError(400, [{ code: 9021, message: 'Invalid DNS record content.' }]);
        if (type === 'TXT' && content.length > 2048) throw new HttpError(400, [{ code: 9101, message: 'Content for TXT record is too long.' }]);
        const fullName = normalize(name) === '@' ? zone.name : normalize(name).endsWith(zone.name) ? normalize(name) : `${normalize(name)}.${zone.name}`;
        if (fullName !== zone.name && !fullName.endsWith(`.${zone.name}`)) {
          throw new HttpError(400, [{ code: 9005, message: 'DNS record name is invalid.' }]);
        }
        if (ttl !== undefined && (typeof ttl !== 'number' || (ttl !== 1 && (ttl < 60 || ttl > 86400)))) {
          throw new HttpError(400, [{ code: 9011, message: 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.' }]);
        }
        const stored = type === 'TXT' ? storedTxtContent(content) : content;
        if (records.some((r) => r.zone_id === zone.id && r.type === type && r.name === fullName && r.content === stored)) {
          throw new HttpError(400, [{ code: 81058, message: 'An identical record already exists.' }]);
        }
        const now = new Date().toISOString();
        const record: FakeRecord = { id: randomBytes(16).toString('hex'), zone_id: zone.id, zone_name: zone.name, name: fullName, type, content: stored, ttl: typeof ttl === 'number' ? ttl : 1, proxied: false, proxiable: false, created_on: now, modified_on: now };
        records.push(record);
        return { status: 200, body: { success: true, errors: [], messages: [], result: record } };
      }
      if (parts.length === 4 && recordId) {
        const index = records.findIndex((r) => r.zone_id === zone.id && r.id === recordId);
        if (index < 0) return { status: 404, body: failure([{ code: 81044, message: 'Record does not exist.' }]) };
        if (method === 'GET') return { status: 200, body: { success: true, errors: [], messages: [], result: records[index] } };
        if (method === 'DELETE') {
          records.splice(index, 1);
          return { status: 200, body: { success: true, errors: [], messages: [], result: { id: recordId } } };
        }
      }
      return { status: 405, body: failure([{ code: 10405, message: 'Method not allowed for this endpoint' }]) };
    }
    return { status: 404, body: failure([{ code: 7000, message: 'No route for that URI' }]) };
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record = (status: number): void => {
      requests.push({ method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), status });
    };
    handle(req, url).then(
      ({ status, body, headers }) => {
        record(status);
        send(res, status, body, headers);
      },
      (error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        const errors = error instanceof HttpError ? error.errors : [{ code: 10002, message: 'Internal server error' }];
        record(status);
        send(res, status, failure(errors));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    requests,
    records: (zoneId) => records.filter((r) => zoneId === undefined || r.zone_id === zoneId).map((r) => ({ ...r })),
    failNext: (count, f) => {
      for (let i = 0; i < count; i++) injected.push(f);
    },
    removeRecord: (id) => {
      const index = records.findIndex((r) => r.id === id);
      if (index >= 0) records.splice(index, 1);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
