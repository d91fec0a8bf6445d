/**
 * An in-process fake of the Fastly Platform TLS API (private keys and bulk
 * certificates), close enough to the real one that the official `fastly` client
 * deserialises every answer through its models.
 *
 * It parses what it is given with node:crypto: certificate dates and domains come
 * from the uploaded certificate, and a certificate is accepted only when a private
 * key with the same public key was uploaded before (as the real API requires).
 *
 * Where the real API's exact error status or wording is not documented, the fake
 * answers with a JSON:API error document `{errors:[{status,title,detail}]}` and the
 * status the brief of this project chose (noted at each place).
 *
 * What the real service documents, and the fake therefore does
 * (https://www.fastly.com/documentation/reference/api/tls/platform/):
 * - "Replace a certificate with a newly reissued certificate ... only SAN entries
 *   that appear in the replacement certificate will become TLS enabled. Any SAN
 *   entries that are missing in the replacement certificate will become disabled."
 *   A PATCH with fewer names is accepted; the missing names are no longer served
 *   by that certificate (`servingCertificate` shows who serves a name, if anyone).
 * - "If a domain is already enabled on a previously uploaded certificate, that
 *   domain will be updated to use the new certificate" (upload), and from
 *   "Limitations & conditions": "The certificate with the most specific hostname
 *   will be prioritized ... If an identical hostname appears on more than one
 *   certificate, then the most recently uploaded certificate will be used."
 *   `servingCertificate` picks an exact SAN over a wildcard, then the most recent
 *   upload; a replacement (PATCH) counts as an upload of that certificate, which
 *   the documentation does not say either way. not_before/not_after must enclose
 *   the present ("Must be in the past/future to be used to terminate TLS traffic").
 * - Rate limits (https://www.fastly.com/documentation/reference/api/#rate-limiting):
 *   "up to 1,000 non-read requests per hour ... per user if you're authenticated
 *   with a token"; "Read requests, such as GET and HEAD requests, are not limited";
 *   over the limit "you will receive a 429 Too Many Requests HTTP response".
 *   "Fastly-RateLimit-Remaining ... the number of API requests remaining in the
 *   current rate limit window. Fastly-RateLimit-Reset ... the time at which the
 *   current rate limit window resets in UTC epoch seconds." The documented example
 *   shows them on a POST, and the official JS client reads them only on non-GET,
 *   non-HEAD answers (node_modules/fastly/dist/ApiClient.js, callApi), so the fake
 *   sends them on writes. No Retry-After is documented for that 429; none is sent.
 *   The window is modelled as a fixed hour starting at the first write.
 *
 * Listens on 127.0.0.1 only.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { rootCertificates } from 'node:tls';

export const JSON_API = 'application/vnd.api+json';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, the raw text when it is not JSON, undefined when empty. */
  body: unknown;
  /** Whether a valid Fastly-Key header came with the request. */
  authenticated: boolean;
  headers: Record<string, string | string[] | undefined>;
}

export interface FakePrivateKey {
  id: string;
  name: string;
  pem: string;
  keyType: 'RSA' | 'ECDSA';
  keyLength: number;
  publicKeySha1: string;
  /** SPKI DER of the public key, used to match certificates. */
  spki: Buffer;
  createdAt: Date;
  updatedAt: Date;
}

export interface FakeBulkCertificate {
  id: string;
  certPem: string;
  intermediatesPem: string;
  allowUntrustedRoot: boolean;
  configurationIds: string[];
  domains: string[];
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
  keyId: string;
  createdAt: Date;
  updatedAt: Date;
  /** Last POST or PATCH of this certificate: the most recent upload serves a shared name. */
  uploadedAt: Date;
  /** Names a replacement (PATCH) left out, which this certificate therefore no longer serves. */
  disabledDomains: string[];
}

interface FaultMatch {
  /** How many matching requests the fault applies to; default 1. `Infinity` for all. */
  times?: number;
  /** Only requests whose path equals this string, or matches this pattern. */
  path?: string | RegExp;
  method?: string;
}

export type FastlyFault = FaultMatch &
  (
    | { type: 'latency'; ms: number }
    | { type: 'status'; status: number; retryAfter?: number | string; body?: unknown }
    /** Never answer; with `afterProcessing` the request is carried out first (a timeout after the write landed). */
    | { type: 'hang'; afterProcessing?: boolean }
    | { type: 'reset' }
  );

export interface FastlyFakeOptions {
  token: string;
  /** When given, bulk certificates may only name these TLS configurations. */
  configurationIds?: string[];
  /** Default page size when the client sends none (the real API uses 20). */
  defaultPageSize?: number;
  /** Non-read requests allowed per window; default 1000 (Fastly's documented hourly limit). */
  rateLimit?: number;
  /** Length of the rate-limit window; default 3600 s. */
  rateLimitWindowSeconds?: number;
  /** The fake's clock in epoch milliseconds (rate-limit window, certificate validity); default Date.now. */
  now?: () => number;
}

export interface FastlyFake {
  url: string;
  requests: RecordedRequest[];
  keys: Map<string, FakePrivateKey>;
  certs: Map<string, FakeBulkCertificate>;
  /** Queue a fault; faults are consumed first-match-first. */
  inject(fault: FastlyFault): void;
  clearFaults(): void;
  /** Forget keys, certificates, requests and faults. */
  reset(): void;
  /** Whether a private key is used by a bulk certificate. */
  keyInUse(keyId: string): boolean;
  /** The certificate Fastly would present for this SNI name now, or undefined when TLS is off for it. */
  servingCertificate(hostname: string): FakeBulkCertificate | undefined;
  /** Writes left in the current window (what Fastly-RateLimit-Remaining would say), and when it resets. */
  rateLimitState(): { remaining: number; resetAt: Date | undefined };
  /** Uses up the allowance of the current window, as another client of the same user would. */
  exhaustRateLimit(): void;
  /** Ends the current window, as the passing of its hour would. */
  endRateLimitWindow(): void;
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function newId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(22), (b) => alphabet[b % alphabet.length]).join('');
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function parseCertificates(blob: string, field: string): X509Certificate[] {
  const blocks = blob.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new HttpError(400, 'Bad Request', `${field} is not a PEM-formatted certificate`);
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    throw new HttpError(400, 'Bad Request', `${field} is not a valid PEM-formatted certificate`);
  }
}

function sanDomains(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  const names = san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /CN=([^\n,]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

let trustedRoots: X509Certificate[] | undefined;
function isTrustedChain(chain: X509Certificate[]): boolean {
  trustedRoots ??= rootCertificates.map((pem) => new X509Certificate(pem));
  const top = chain[chain.length - 1];
  if (!top) return false;
  return trustedRoots.some((root) => top.fingerprint256 === root.fingerprint256 || (top.checkIssued(root) && top.verify(root.publicKey)));
}

export async function startFastlyFake(options: FastlyFakeOptions): Promise<FastlyFake> {
  const requests: RecordedRequest[] = [];
  const keys = new Map<string, FakePrivateKey>();
  const certs = new Map<string, FakeBulkCertificate>();
  let faults: Array<FastlyFault & { remaining: number }> = [];
  const sockets = new Set<Socket>();
  const defaultPageSize = options.defaultPageSize ?? 20;
  const now = options.now ?? Date.now;
  const limit = options.rateLimit ?? 1000;
  const windowMs = (options.rateLimitWindowSeconds ?? 3600) * 1000;
  let windowStart: number | undefined;
  let writesInWindow = 0;
  let baseUrl = '';

  const keyInUse = (keyId: string): boolean => [...certs.values()].some((c) => c.keyId === keyId);

  /** Rolls the window over when it has passed; returns when the current one ends. */
  function currentWindow(): { resetAt: number | undefined } {
    if (windowStart !== undefined && now() >= windowStart + windowMs) {
      windowStart = undefined;
      writesInWindow = 0;
    }
    return { resetAt: windowStart === undefined ? undefined : windowStart + windowMs };
  }

  function rateLimitHeaders(): Record<string, string> {
    const { resetAt } = currentWindow();
    return {
      'Fastly-RateLimit-Remaining': String(Math.max(0, limit - writesInWindow)),
      'Fastly-RateLimit-Reset': String(Math.ceil((resetAt ?? now() + windowMs) / 1000)),
    };
  }

  /** Counts a write; false when the window's allowance is used up. */
  function takeWrite(): boolean {
    currentWindow();
    windowStart ??= now();
    if (writesInWindow >= limit) return false;
    writesInWindow += 1;
    return true;
  }

  function servingCertificate(hostname: string): FakeBulkCertificate | undefined {
    const name = hostname.toLowerCase();
    const dot = name.indexOf('.');
    const wildcard = dot > 0 ? `*${name.slice(dot)}` : undefined;
    const t = now();
    const valid = [...certs.values()].filter((c) => c.notBefore.getTime() <= t && t < c.notAfter.getTime());
    const newest = (list: FakeBulkCertificate[]) =>
      list.sort((a, b) => b.uploadedAt.getTime() - a.uploadedAt.getTime() || b.createdAt.getTime() - a.createdAt.getTime())[0];
    return newest(valid.filter((c) => c.domains.includes(name))) ?? (wildcard ? newest(valid.filter((c) => c.domains.includes(wildcard))) : undefined);
  }

  // ---- JSON:API documents -------------------------------------------------

  const keyResource = (k: FakePrivateKey) => ({
    id: k.id,
    type: 'tls_private_key',
    attributes: {
      name: k.name,
      key_length: k.keyLength,
      key_type: k.keyType,
      replace: false,
      public_key_sha1: k.publicKeySha1,
      created_at: k.createdAt.toISOString(),
      updated_at: k.updatedAt.toISOString(),
    },
  });

  const certResource = (c: FakeBulkCertificate) => ({
    id: c.id,
    type: 'tls_bulk_certificate',
    attributes: {
      not_after: c.notAfter.toISOString(),
      not_before: c.notBefore.toISOString(),
      created_at: c.createdAt.toISOString(),
      updated_at: c.updatedAt.toISOString(),
      replace: false,
    },
    relationships: {
      tls_configurations: { data: c.configurationIds.map((id) => ({ type: 'tls_configuration', id })) },
      tls_domains: { data: c.domains.map((id) => ({ type: 'tls_domain', id })) },
    },
  });

  function paginate<T>(path: string, query: Record<string, string>, items: T[], render: (item: T) => unknown) {
    const number = Number(query['page[number]'] ?? '1');
    const size = Number(query['page[size]'] ?? String(defaultPageSize));
    if (!Number.isInteger(number) || number < 1) throw new HttpError(400, 'Bad Request', 'page[number] must be a positive integer');
    if (!Number.isInteger(size) || size < 1 || size > 1000) throw new HttpError(400, 'Bad Request', 'page[size] is out of range');
    const totalPages = Math.max(1, Math.ceil(items.length / size));
    const link = (n: number) => {
      const q = new URLSearchParams({ ...query, 'page[number]': String(n), 'page[size]': String(size) });
      return `${baseUrl}${path}?${q.toString()}`;
    };
    const links: Record<string, string | null> = {
      self: link(number),
      first: link(1),
      last: link(totalPages),
      prev: number > 1 ? link(number - 1) : null,
      next: number < totalPages ? link(number + 1) : null,
    };
    return {
      data: items.slice((number - 1) * size, number * size).map(render),
      links,
      meta: { current_page: number, per_page: size, record_count: items.length, total_pages: totalPages },
    };
  }

  // ---- request body helpers ----------------------------------------------

  function dataOf(body: unknown, type: string): { id?: unknown; attributes: Record<string, unknown>; relationships?: unknown } {
    if (typeof body !== 'object' || body === null || !('data' in body)) throw new HttpError(400, 'Bad Request', 'Request body must be a JSON:API document');
    const data = (body as { data: unknown }).data;
    if (typeof data !== 'object' || data === null) throw new HttpError(400, 'Bad Request', 'data must be an object');
    const d = data as { type?: unknown; id?: unknown; attributes?: unknown; relationships?: unknown };
    if (d.type !== type) throw new HttpError(409, 'Conflict', `data.type must be ${type}`);
    const attributes = typeof d.attributes === 'object' && d.attributes !== null ? (d.attributes as Record<string, unknown>) : {};
    return { id: d.id, attributes, relationships: d.relationships };
  }

  function configurationIdsOf(relationships: unknown): string[] {
    const data = (relationships as { tls_configurations?: { data?: unknown } } | undefined)?.tls_configurations?.data;
    if (data === undefined) return [];
    if (!Array.isArray(data)) throw new HttpError(400, 'Bad Request', 'relationships.tls_configurations.data must be an array');
    return data.map((item: unknown) => {
      const i = item as { type?: unknown; id?: unknown };
      if (i?.type !== 'tls_configuration' || typeof i.id !== 'string') {
        throw new HttpError(400, 'Bad Request', 'Invalid tls_configuration relationship');
      }
      if (options.configurationIds && !options.configurationIds.includes(i.id)) {
        throw new HttpError(400, 'Bad Request', `TLS configuration ${i.id} not found`);
      }
      return i.id;
    });
  }

  /** Validates a certificate upload; returns what the certificate record needs. */
  function examineCertificate(attributes: Record<string, unknown>) {
    const certBlob = attributes.cert_blob;
    const intermediatesBlob = attributes.intermediates_blob ?? '';
    if (typeof certBlob !== 'string' || certBlob.trim() === '') throw new HttpError(400, 'Bad Request', 'cert_blob is required');
    if (typeof intermediatesBlob !== 'string') throw new HttpError(400, 'Bad Request', 'intermediates_blob must be a string');
    const allowUntrustedRoot = attributes.allow_untrusted_root === true;
    const [leaf, ...extra] = parseCertificates(certBlob, 'cert_blob');
    if (!leaf) throw new HttpError(400, 'Bad Request', 'cert_blob is required');
    if (extra.length > 0) throw new HttpError(400, 'Bad Request', 'cert_blob must hold exactly one certificate');
    const intermediates = intermediatesBlob.trim() === '' ? [] : parseCertificates(intermediatesBlob, 'intermediates_blob');
    const chain = [leaf, ...intermediates];
    for (let i = 0; i + 1 < chain.length; i++) {
      const child = chain[i]!;
      const parent = chain[i + 1]!;
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
        throw new HttpError(400, 'Bad Request', 'Certificate chain is invalid: a certificate is not signed by the next one');
      }
    }
    if (!allowUntrustedRoot && !isTrustedChain(chain)) {
      throw new HttpError(400, 'Bad Request', 'Certificate chain does not lead to a trusted root');
    }
    const spki = spkiOf(leaf.publicKey);
    const key = [...keys.values()].find((k) => k.spki.equals(spki));
    // 422 as chosen by this project's brief; the real API rejects a certificate without a matching key.
    if (!key) throw new HttpError(422, 'Unprocessable Entity', 'No private key matching the certificate was uploaded');
    return {
      certPem: certBlob,
      intermediatesPem: intermediatesBlob,
      allowUntrustedRoot,
      domains: sanDomains(leaf),
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
      fingerprint256: leaf.fingerprint256,
      keyId: key.id,
    };
  }

  // ---- routes ------------------------------------------------------------

  type Answer = { status: number; body?: unknown };

  function route(method: string, path: string, query: Record<string, string>, body: unknown): Answer {
    let m: RegExpExecArray | null;
    if (path === '/tls/private_keys') {
      if (method === 'GET') {
        const inUse = query['filter[in_use]'];
        if (inUse !== undefined && inUse !== 'false') {
          throw new HttpError(400, 'Bad Request', 'filter[in_use] only accepts false');
        }
        let list = [...keys.values()];
        if (inUse === 'false') list = list.filter((k) => !keyInUse(k.id));
        return { status: 200, body: paginate(path, query, list, keyResource) };
      }
      if (method === 'POST') {
        const { attributes } = dataOf(body, 'tls_private_key');
        const pem = attributes.key;
        const name = attributes.name;
        if (typeof pem !== 'string' || pem.trim() === '') throw new HttpError(400, 'Bad Request', 'key is required');
        if (name !== undefined && typeof name !== 'string') throw new HttpError(400, 'Bad Request', 'name must be a string');
        let privateKey: KeyObject;
        try {
          privateKey = createPrivateKey({ key: pem, format: 'pem' });
        } catch {
          throw new HttpError(400, 'Bad Request', 'Key is not a valid PEM-formatted private key');
        }
        const keyType = privateKey.asymmetricKeyType === 'rsa' ? 'RSA' : privateKey.asymmetricKeyType === 'ec' ? 'ECDSA' : undefined;
        if (!keyType) throw new HttpError(400, 'Bad Request', 'Key type is not supported');
        const publicKey = createPublicKey(privateKey);
        const spki = spkiOf(publicKey);
        // 409 "Key already exists": the Python AutoTLS matched that text.
        if ([...keys.values()].some((k) => k.spki.equals(spki))) throw new HttpError(409, 'Conflict', 'Key already exists');
        const details = privateKey.asymmetricKeyDetails;
        const keyLength =
          keyType === 'RSA' ? (details?.modulusLength ?? 0) : details?.namedCurve === 'secp384r1' ? 384 : details?.namedCurve === 'secp521r1' ? 521 : 256;
        const created = new Date(now());
        const key: FakePrivateKey = {
          id: newId(),
          name: name ?? '',
          pem,
          keyType,
          keyLength,
          publicKeySha1: createHash('sha1').update(spki).digest('hex'),
          spki,
          createdAt: created,
          updatedAt: created,
        };
        keys.set(key.id, key);
        return { status: 201, body: { data: keyResource(key) } };
      }
    }
    if ((m = /^\/tls\/private_keys\/([^/]+)$/.exec(path))) {
      const key = keys.get(decodeURIComponent(m[1]!));
      if (!key) throw new HttpError(404, 'Not Found', 'Record not found');
      if (method === 'GET') return { status: 200, body: { data: keyResource(key) } };
      if (method === 'DELETE') {
        // Status chosen by this project's brief; the real API only documents that keys in use cannot be deleted.
        if (keyInUse(key.id)) throw new HttpError(409, 'Conflict', 'Key is in use by a certificate and cannot be deleted');
        keys.delete(key.id);
        return { status: 204 };
      }
    }
    if (path === '/tls/bulk/certificates') {
      if (method === 'GET') {
        let list = [...certs.values()];
        const domain = query['filter[tls_domain.id]'];
        if (domain !== undefined) list = list.filter((c) => c.domains.includes(domain.toLowerCase()));
        const sort = query.sort ?? 'created_at';
        const field = sort.replace(/^-/, '');
        if (field !== 'created_at') throw new HttpError(400, 'Bad Request', `Cannot sort by ${field}`);
        list.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
        if (sort.startsWith('-')) list.reverse();
        return { status: 200, body: paginate(path, query, list, certResource) };
      }
      if (method === 'POST') {
        const { attributes, relationships } = dataOf(body, 'tls_bulk_certificate');
        const configurationIds = configurationIdsOf(relationships);
        const examined = examineCertificate(attributes);
        if ([...certs.values()].some((c) => c.fingerprint256 === examined.fingerprint256)) {
          throw new HttpError(409, 'Conflict', 'Certificate already exists');
        }
        const created = new Date(now());
        const cert: FakeBulkCertificate = {
          id: newId(),
          ...examined,
          configurationIds,
          createdAt: created,
          updatedAt: created,
          uploadedAt: created,
          disabledDomains: [],
        };
        certs.set(cert.id, cert);
        return { status: 201, body: { data: certResource(cert) } };
      }
    }
    if ((m = /^\/tls\/bulk\/certificates\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      const cert = certs.get(id);
      if (!cert) throw new HttpError(404, 'Not Found', 'Record not found');
      if (method === 'GET') return { status: 200, body: { data: certResource(cert) } };
      if (method === 'DELETE') {
        certs.delete(id);
        return { status: 204 };
      }
      if (method === 'PATCH') {
        const { id: bodyId, attributes } = dataOf(body, 'tls_bulk_certificate');
        if (bodyId !== undefined && bodyId !== id) throw new HttpError(409, 'Conflict', 'data.id does not match the URL');
        const examined = examineCertificate(attributes);
        // "Any SAN entries that are missing in the replacement certificate will become disabled."
        const dropped = cert.domains.filter((d) => !examined.domains.includes(d));
        const disabledDomains = [...new Set([...cert.disabledDomains, ...dropped])].filter((d) => !examined.domains.includes(d));
        const at = new Date(now());
        Object.assign(cert, examined, { updatedAt: at, uploadedAt: at, disabledDomains });
        return { status: 200, body: { data: certResource(cert) } };
      }
    }
    // "Show a TLS configuration": GET /tls/configurations/{tls_configuration_id}, a JSON:API
    // `tls_configuration` with name, bulk, default, http_protocols, tls_protocols and the dates
    // (https://www.fastly.com/documentation/reference/api/tls/configuration/). With
    // `configurationIds` given, any other id is 404 "Record not found", as for other records.
    if ((m = /^\/tls\/configurations\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      if (method !== 'GET') throw new HttpError(405, 'Method Not Allowed', `${method} is not allowed here`);
      if (options.configurationIds && !options.configurationIds.includes(id)) throw new HttpError(404, 'Not Found', 'Record not found');
      const at = new Date(0).toISOString();
      return {
        status: 200,
        body: {
          data: {
            id,
            type: 'tls_configuration',
            attributes: { name: `Platform TLS ${id}`, bulk: true, default: false, http_protocols: ['http/1.1', 'http/2'], tls_protocols: ['1.2', '1.3'], created_at: at, updated_at: at, deleted_at: null },
            relationships: { dns_records: { data: [] } },
          },
        },
      };
    }
    if (/^\/tls\/(private_keys|bulk\/certificates)(\/[^/]+)?$/.test(path)) {
      throw new HttpError(405, 'Method Not Allowed', `${method} is not allowed here`);
    }
    return { status: 404, body: { msg: 'Record not found' } };
  }

  // ---- HTTP plumbing -----------------------------------------------------

  function send(res: ServerResponse, status: number, body: unknown, contentType = JSON_API, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...(body === undefined ? {} : { 'Content-Type': contentType }),
      ...headers,
    });
    res.end(text);
  }

  function takeFault(method: string, path: string): FastlyFault | undefined {
    const i = faults.findIndex(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.path === undefined || (typeof f.path === 'string' ? f.path === path : f.path.test(path))),
    );
    if (i < 0) return undefined;
    const fault = faults[i]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(i, 1);
    return fault;
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams.entries());
    const raw = await readBody(req);
    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const authenticated = req.headers['fastly-key'] === options.token;
    requests.push({ method, path, query, body, authenticated, headers: { ...req.headers } });

    const isWrite = method !== 'GET' && method !== 'HEAD';
    const fault = takeFault(method, path);
    if (fault) {
      if (fault.type === 'hang') {
        // never answer; stop() drops the socket
        if (fault.afterProcessing && authenticated && (!isWrite || takeWrite())) {
          try {
            route(method, path, query, body);
          } catch {
            // the answer is never sent anyway
          }
        }
        return;
      }
      if (fault.type === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault.type === 'latency') await new Promise((r) => setTimeout(r, fault.ms));
      if (fault.type === 'status') {
        const headers: Record<string, string> = {};
        if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
        const fallback =
          fault.status === 429 ? { msg: 'Too many requests' } : { errors: [{ status: String(fault.status), title: 'Service Unavailable', detail: 'Injected fault' }] };
        send(res, fault.status, fault.body ?? fallback, fault.status === 429 ? 'application/json' : JSON_API, headers);
        return;
      }
    }

    if (!authenticated) {
      send(res, 401, { msg: 'Provided credentials are missing or invalid' }, 'application/json');
      return;
    }
    if (isWrite && !takeWrite()) {
      send(res, 429, { msg: 'Too many requests' }, 'application/json', rateLimitHeaders());
      return;
    }
    const limitHeaders = isWrite ? rateLimitHeaders() : {};
    try {
      const answer = route(method, path, query, body);
      send(res, answer.status, answer.body, JSON_API, limitHeaders);
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, { errors: [{ status: String(err.status), title: err.title, detail: err.detail }] }, JSON_API, limitHeaders);
      } else {
        send(res, 500, { errors: [{ status: '500', title: 'Internal Server Error', detail: String(err) }] }, JSON_API, limitHeaders);
      }
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { errors: [{ status: '500', title: 'Internal Server Error', detail: 'fake failed' }] });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    requests,
    keys,
    certs,
    inject(fault) {
      faults.push({ ...fault, remaining: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    reset() {
      requests.length = 0;
      keys.clear();
      certs.clear();
      faults = [];
      windowStart = undefined;
      writesInWindow = 0;
    },
    keyInUse,
    servingCertificate,
    rateLimitState() {
      const { resetAt } = currentWindow();
      return { remaining: Math.max(0, limit - writesInWindow), resetAt: resetAt === undefined ? undefined : new Date(resetAt) };
    },
    exhaustRateLimit() {
      currentWindow();
      windowStart ??= now();
      writesInWindow = limit;
    },
    endRateLimitWindow() {
      windowStart = undefined;
      writesInWindow = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
