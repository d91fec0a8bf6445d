// Hostile input against the real service (harness: BIND, Pebble, file secrets,
// SQLite, the Fastly and Slack fakes) and the real `autotls` binary. Every case
// gets its documented 4xx with a JSON {error} (CLI: exit 2 and a sentence on
// stderr), and NOTHING is written: database rows, secrets, DNS and Fastly stay
// as they were. Zones z31 and z32.
//
// Requests go out through node:http (or a raw socket), not fetch, so that paths
// reach the server exactly as written (fetch would normalise `..` and `%2e%2e`),
// and duplicate headers and odd methods can be sent. Each request leaves from its
// own loopback source address (127.1.x.y) so that the per-client bad-key limiter
// (tested in its own section below) does not turn later 401 cases into 429s.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, challengeRecords, startHarness, type Harness } from './harness.js';
import { ensureBuilt, runCli, show, type CliResult } from './cli-helpers.js';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/index.js';

const KNOWN = 'z31.test'; // in the domains table and eligible: anything that slips through would issue it
const OTHER = 'www.z32.test';
let h: Harness;
let port: number;
let baseline: Snapshot;

interface Snapshot {
  counts: Record<string, number>;
  domains: string;
  secrets: string[];
  challenges: string[];
  fastlyRequests: number;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function snapshot(): Promise<Snapshot> {
  const db = h.components.database.client;
  const [domains, tls, tlsfastly, state, orders, accounts, runs, results] = await Promise.all([
    db.domain.count(),
    db.tls.count(),
    db.tlsfastly.count(),
    db.domainState.count(),
    db.acmeOrder.count(),
    db.acmeAccountState.count(),
    db.run.count(),
    db.runResult.count(),
  ]);
  return {
    counts: { domains, tls, tlsfastly, autotls_domain_state: state, autotls_acme_orders: orders, autotls_acme_accounts: accounts, autotls_runs: runs, autotls_run_results: results },
    domains: JSON.stringify(await db.domain.findMany({ orderBy: { id: 'asc' } })),
    secrets: filesUnder(h.shared.secretsDir),
    challenges: [...(await challengeRecords(KNOWN)), ...(await challengeRecords(OTHER))],
    fastlyRequests: h.shared.fastly.requests.length,
  };
}

async function expectNothingWritten(): Promise<void> {
  const now = await snapshot();
  expect(now.counts).toEqual(baseline.counts);
  expect(now.domains).toBe(baseline.domains);
  expect(now.secrets).toEqual(baseline.secrets);
  expect(now.challenges).toEqual([]);
  expect(now.fastlyRequests).toBe(0);
}

beforeAll(async () => {
  ensureBuilt();
  h = await startHarness();
  port = Number(new URL(h.url).port);
  await h.addDomain(KNOWN);
  await h.addDomain(OTHER, 'z32.test');
  baseline = await snapshot();
  expect(baseline.counts.autotls_runs).toBe(0);
  expect(baseline.secrets).toHaveLength(1); // the ACME account key only
}, 180_000);

afterAll(async () => {
  await h?.stop();
  rmSync(csvDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// HTTP

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

let sourceHost = 0;
/** A fresh loopback source address per request (see the header comment). */
function nextSource(): string {
  sourceHost += 1;
  return `127.1.${Math.floor(sourceHost / 250)}.${1 + (sourceHost % 250)}`;
}

interface HttpCase {
  name: string;
  method?: string;
  path: string;
  /** Raw header pairs; the API key is added as Flask-Key unless `key` is null or a string. */
  headers?: Array<[string, string]>;
  key?: string | null;
  body?: string | Buffer;
  status: number;
  error?: RegExp;
}

function send(c: HttpCase): Promise<RawResponse> {
  const pairs: string[] = ['Host', `127.0.0.1:${port}`]; // raw header arrays get no automatic Host
  const key = c.key === undefined ? API_KEY : c.key;
  if (key !== null) pairs.push('Flask-Key', key);
  for (const [k, v] of c.headers ?? []) pairs.push(k, v);
  if (c.body !== undefined && !(c.headers ?? []).some(([k]) => /^(content-length|transfer-encoding)$/i.test(k))) {
    pairs.push('Content-Length', String(Buffer.byteLength(c.body)));
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, method: c.method ?? 'GET', path: c.path, headers: pairs, localAddress: nextSource(), timeout: 20_000 },
      (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    // The server may answer (413, 431) and close while a large body is still going out.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    req.on('timeout', () => req.destroy(new Error(`timeout: ${c.method ?? 'GET'} ${c.path.slice(0, 80)}`)));
    if (c.body !== undefined) req.end(c.body);
    else req.end();
  });
}

/** Bytes the HTTP client refuses to produce: written straight to a socket. */
function sendRaw(text: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: nextSource() });
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: IncomingHttpHeaders = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
    socket.end(text, 'latin1');
  });
}

const INVALID = /^Invalid domain name: /;
const NOT_AVAILABLE = /^Domain [a-z0-9.-]+ not available for TLS$/;
const UNAUTHORIZED = /^Unauthorized: (Missing|Incorrect) key value$/;
const MALFORMED = /^Bad request \(malformed URL or body\)$/;
const NOT_FOUND = /^Not found$/;
const METHOD = /^Use GET or POST$/;
const LIMIT = /^Query parameter limit must be an integer from 1 to 100$/;
const long = (n: number): string => 'a'.repeat(n);
const json = (...more: Array<[string, string]>): Array<[string, string]> => [['Content-Type', 'application/json'], ...more];

/**
 * The table. Status per case, as documented in contract section 2 and
 * docs of src/http/app.ts: 400 invalid input, 401 key, 404 unknown (an IDN that
 * is valid after conversion to A-labels is simply not in the table: 404),
 * 405 method, 413 body size, 415 body type, 431 header size.
 */
const httpCases: HttpCase[] = [
  // URL path: /single/:domain
  { name: 'traversal ..%2Fetc%2Fpasswd', path: '/single/..%2Fetc%2Fpasswd', status: 400, error: INVALID },
  { name: 'traversal %2e%2e%2f..%2f', path: '/single/%2e%2e%2f..%2fprocess', status: 400, error: INVALID },
  { name: 'dot-dot only %2e%2e', path: '/single/%2e%2e', status: 400, error: INVALID },
  { name: 'traversal inside a valid name', path: `/single/${KNOWN}%2F..%2F..%2Fetc`, status: 400, error: INVALID },
  { name: 'encoded slash', path: `/single/a%2F${KNOWN}`, status: 400, error: INVALID },
  { name: 'double-encoded slash %252F', path: `/single/a%252F${KNOWN}`, status: 400, error: INVALID },
  { name: 'encoded backslash', path: `/single/a%5C${KNOWN}`, status: 400, error: INVALID },
  { name: 'null byte after a known name', path: `/single/${KNOWN}%00`, status: 400, error: INVALID },
  { name: 'null byte alone', path: '/single/%00', status: 400, error: INVALID },
  { name: 'CRLF injection', path: `/single/${KNOWN}%0D%0ASet-Cookie:%20x=1`, status: 400, error: INVALID },
  { name: 'tab', path: `/single/${KNOWN}%09`, status: 400, error: INVALID },
  { name: 'space', path: '/single/z31%20.test', status: 400, error: INVALID },
  { name: 'zero-width space (format character)', path: '/single/z31%E2%80%8B.test', status: 400, error: INVALID },
  { name: 'right-to-left override', path: '/single/%E2%80%AEz31.test', status: 400, error: INVALID },
  { name: 'name of 300 characters', path: `/single/${long(300)}.test`, status: 400, error: /Invalid domain name: Domain name is 305 characters long/ },
  { name: 'name of 15 000 characters', path: `/single/${long(15_000)}`, status: 400, error: INVALID },
  { name: 'label of 64 characters', path: `/single/${long(64)}.${KNOWN}`, status: 400, error: /longer than 63 characters/ },
  { name: '254 characters in short labels', path: `/single/${'a.'.repeat(125)}test`, status: 400, error: /maximum is 253/ },
  { name: 'IDN (unicode) becomes an A-label: unknown, 404', path: `/single/b%C3%BCcher.${KNOWN}`, status: 404, error: /^Domain xn--bcher-kva\.z31\.test not available for TLS$/ },
  { name: 'IDN upper case is lower-cased: 404', path: `/single/B%C3%9CCHER.${KNOWN}`, status: 404, error: /^Domain xn--bcher-kva\.z31\.test not available for TLS$/ },
  { name: 'emoji label becomes an A-label: 404', path: `/single/%F0%9F%94%92.${KNOWN}`, status: 404, error: NOT_AVAILABLE },
  { name: 'fullwidth dot maps to "." (UTS 46): unknown name, 404', path: '/single/nothere%EF%BC%8Ez31.test', status: 404, error: /^Domain nothere\.z31\.test not available for TLS$/ },
  { name: 'A-label given directly: 404', path: `/single/xn--bcher-kva.${KNOWN}`, status: 404, error: NOT_AVAILABLE },
  { name: 'invalid IDN (disallowed code point)', path: `/single/%E2%98%83%EF%B8%8F%C2%AD.${KNOWN}`, status: 400, error: INVALID },
  { name: 'leading dot', path: `/single/.${KNOWN}`, status: 400, error: /starts or ends with a dot/ },
  { name: 'trailing dot', path: `/single/${KNOWN}.`, status: 400, error: /starts or ends with a dot/ },
  { name: 'wildcard label', path: `/single/*.${KNOWN}`, status: 400, error: INVALID },
  { name: 'encoded wildcard label', path: `/single/%2A.${KNOWN}`, status: 400, error: INVALID },
  { name: 'bad percent-encoding %ZZ', path: '/single/%ZZ.z31.test', status: 400, error: MALFORMED },
  { name: 'lone percent sign', path: '/single/z31.test%', status: 400, error: MALFORMED },
  { name: 'overlong UTF-8 for "."', path: '/single/z31%C0%AEtest', status: 400, error: MALFORMED },
  { name: 'UTF-16 surrogate in UTF-8', path: '/single/%ED%A0%80.z31.test', status: 400, error: MALFORMED },
  { name: 'single label', path: '/single/localhost', status: 400, error: /at least two labels/ },
  { name: 'IPv4 address', path: '/single/127.0.0.1', status: 400, error: /IP address/ },
  { name: 'leading hyphen', path: `/single/-x.${KNOWN}`, status: 400, error: INVALID },
  { name: 'underscore (the challenge label itself)', path: `/single/_acme-challenge.${KNOWN}`, status: 400, error: INVALID },
  { name: 'port suffix', path: `/single/${KNOWN}%3A443`, status: 400, error: INVALID },
  { name: 'userinfo', path: `/single/user%40${KNOWN}`, status: 400, error: INVALID },
  { name: 'encoded query mark', path: `/single/${KNOWN}%3Ftestmode=1`, status: 400, error: INVALID },
  { name: 'encoded fragment', path: `/single/${KNOWN}%23x`, status: 400, error: INVALID },
  { name: 'path longer than the header limit', path: `/single/${long(20_000)}`, status: 431, error: /^Request headers are too large$/ },
  // Query parameters (on a known, eligible domain and on /process: a slip would issue z31.test)
  { name: 'repeated testmode', path: '/process?testmode=a&testmode=b', status: 400, error: /testmode must be given at most once/ },
  { name: 'repeated testmode, one empty', path: '/process?testmode=test&testmode=', status: 400, error: /at most once/ },
  { name: 'testmode[]=', path: '/process?testmode[]=x', status: 400, error: /testmode must be a plain value/ },
  { name: 'testmode[a]=', path: '/process?testmode[a]=x', status: 400, error: /testmode must be a plain value/ },
  { name: 'encoded brackets testmode%5B%5D', path: '/process?testmode%5B%5D=x', status: 400, error: /testmode must be a plain value/ },
  { name: 'huge testmode value', path: `/process?testmode=${long(10_000)}`, status: 400, error: /longer than 256 characters/ },
  { name: 'bad wait', path: '/process?wait=maybe', status: 400, error: /^Query parameter wait must be true or false$/ },
  { name: 'repeated wait', path: '/process?wait=false&wait=true', status: 400, error: /wait must be given at most once/ },
  { name: 'wait[]=false', path: '/process?wait[]=false', status: 400, error: /wait must be a plain value/ },
  { name: 'bad wait on /single of a known domain', path: `/single/${KNOWN}?wait=later`, status: 400, error: /wait must be true or false/ },
  { name: 'testmode[] on /single of a known domain', path: `/single/${KNOWN}?testmode[]=1`, status: 400, error: /testmode must be a plain value/ },
  { name: 'limit=0', path: '/runs?limit=0', status: 400, error: LIMIT },
  { name: 'limit=-1', path: '/runs?limit=-1', status: 400, error: LIMIT },
  { name: 'limit=abc', path: '/runs?limit=abc', status: 400, error: LIMIT },
  { name: 'limit=101', path: '/runs?limit=101', status: 400, error: LIMIT },
  { name: 'limit=1.5', path: '/runs?limit=1.5', status: 400, error: LIMIT },
  { name: 'limit=1e2 (Number() would take it)', path: '/runs?limit=1e2', status: 400, error: LIMIT },
  { name: 'limit=0x10 (Number() would take it)', path: '/runs?limit=0x10', status: 400, error: LIMIT },
  { name: 'limit with a leading space', path: '/runs?limit=%205', status: 400, error: LIMIT },
  { name: 'limit empty', path: '/runs?limit=', status: 400, error: LIMIT },
  { name: 'limit huge', path: `/runs?limit=${'9'.repeat(400)}`, status: 400, error: /longer than 256|integer from 1 to 100/ },
  { name: 'repeated limit', path: '/runs?limit=1&limit=2', status: 400, error: /limit must be given at most once/ },
  { name: 'limit[]=1', path: '/runs?limit[]=1', status: 400, error: /limit must be a plain value/ },
  { name: 'run id not a UUID', path: '/runs/not-a-uuid', status: 400, error: /^Invalid run id$/ },
  { name: 'run id traversal', path: '/runs/..%2F..%2Fprocess', status: 400, error: /^Invalid run id$/ },
  { name: 'run id null byte', path: '/runs/%00', status: 400, error: /^Invalid run id$/ },
  { name: 'run id upper case', path: '/runs/0000000A-0000-0000-0000-000000000000', status: 400, error: /^Invalid run id$/ },
  { name: 'unknown run id', path: '/runs/00000000-0000-0000-0000-000000000000', status: 404, error: /^Run 00000000-0000-0000-0000-000000000000 not found$/ },
  // Headers
  { name: 'no key', path: '/process', key: null, status: 401, error: /^Unauthorized: Missing key value$/ },
  { name: 'empty Flask-Key', path: '/process', key: '', status: 401, error: /^Unauthorized: Missing key value$/ },
  { name: 'wrong Flask-Key', path: '/process', key: 'wrong', status: 401, error: /^Unauthorized: Incorrect key value$/ },
  { name: 'duplicated Flask-Key: right + wrong', path: '/process', headers: [['Flask-Key', 'wrong']], status: 401, error: /Incorrect key value/ },
  { name: 'duplicated Flask-Key: right twice', path: '/process', headers: [['Flask-Key', API_KEY]], status: 401, error: /Incorrect key value/ },
  { name: 'key with the correct prefix plus one character', path: '/process', key: `${API_KEY}0`, status: 401, error: UNAUTHORIZED },
  { name: 'correct key minus its last character', path: '/process', key: API_KEY.slice(0, -1), status: 401, error: UNAUTHORIZED },
  { name: 'first 8 characters of the key', path: '/process', key: API_KEY.slice(0, 8), status: 401, error: UNAUTHORIZED },
  { name: 'key in upper case', path: '/process', key: API_KEY.toUpperCase(), status: 401, error: UNAUTHORIZED },
  { name: 'Authorization: Basic with the key as password', path: '/process', key: null, headers: [['Authorization', `Basic ${Buffer.from(`user:${API_KEY}`).toString('base64')}`]], status: 401, error: /Missing key value/ },
  { name: 'Authorization: Bearer with a wrong key', path: '/process', key: null, headers: [['Authorization', 'Bearer wrong-key']], status: 401, error: /Incorrect key value/ },
  { name: 'Authorization: Bearer with no key', path: '/process', key: null, headers: [['Authorization', 'Bearer ']], status: 401, error: /Missing key value/ },
  { name: 'Authorization: the key without a scheme', path: '/process', key: null, headers: [['Authorization', API_KEY]], status: 401, error: /Missing key value/ },
  { name: 'wrong Flask-Key is not rescued by a right Bearer', path: '/process', key: 'wrong', headers: [['Authorization', `Bearer ${API_KEY}`]], status: 401, error: /Incorrect key value/ },
  { name: 'key in the query string', path: `/process?key=${API_KEY}&api_key=${API_KEY}`, key: null, status: 401, error: /Missing key value/ },
  { name: 'key in a cookie', path: '/process', key: null, headers: [['Cookie', `Flask-Key=${API_KEY}`]], status: 401, error: /Missing key value/ },
  { name: 'wrong key of 10 KB', path: '/process', key: long(10_000), status: 401, error: /Incorrect key value/ },
  { name: 'oversized header (20 KB)', path: '/process', key: long(20_000), status: 431, error: /^Request headers are too large$/ },
  // Bodies
  { name: 'text/plain body', method: 'POST', path: '/process', headers: [['Content-Type', 'text/plain']], body: 'run everything', status: 415, error: /^Unsupported request body/ },
  { name: 'form body', method: 'POST', path: '/process', headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: 'testmode=test', status: 415, error: /^Unsupported request body/ },
  { name: 'multipart body', method: 'POST', path: `/single/${KNOWN}`, headers: [['Content-Type', 'multipart/form-data; boundary=x']], body: '--x\r\n\r\nhi\r\n--x--', status: 415, error: /^Unsupported request body/ },
  { name: 'body without a content type', method: 'POST', path: '/process', body: '{}', status: 415, error: /^Unsupported request body/ },
  { name: 'chunked text body', method: 'POST', path: '/process', headers: [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked']], body: '5\r\nhello\r\n0\r\n\r\n', status: 415, error: /^Unsupported request body/ },
  { name: 'malformed JSON', method: 'POST', path: '/process', headers: json(), body: '{"testmode":', status: 400, error: /^Request body is not valid JSON$/ },
  { name: 'JSON string (not an object)', method: 'POST', path: '/process', headers: json(), body: '"x"', status: 400, error: /^Request body is not valid JSON$/ },
  { name: 'malformed JSON on GET', path: `/single/${KNOWN}`, headers: json(), body: '{', status: 400, error: /^Request body is not valid JSON$/ },
  { name: 'JSON of 17 KB', method: 'POST', path: '/process', headers: json(), body: JSON.stringify({ pad: long(17_000) }), status: 413, error: /^Request body too large$/ },
  { name: 'JSON of 10 MB', method: 'POST', path: `/single/${KNOWN}`, headers: json(), body: Buffer.alloc(10 * 1024 * 1024, 0x20), status: 413, error: /^Request body too large$/ },
  // body-parser alone decodes any "utf-*" charset: '{}' in UTF-7 used to start a run.
  { name: 'UTF-7 JSON', method: 'POST', path: '/process', headers: [['Content-Type', 'application/json; charset=utf-7']], body: '{}', status: 415, error: /^Unsupported request body: JSON must be UTF-8$/ },
  { name: 'UTF-16 JSON', method: 'POST', path: `/single/${KNOWN}`, headers: [['Content-Type', 'application/json; charset="UTF-16"']], body: Buffer.from('{}', 'utf16le'), status: 415, error: /JSON must be UTF-8/ },
  { name: 'latin1 JSON', method: 'POST', path: '/process', headers: [['Content-Type', 'application/json;charset=iso-8859-1']], body: '{}', status: 415, error: /JSON must be UTF-8/ },
  { name: 'unsupported content encoding', method: 'POST', path: '/process', headers: json(['Content-Encoding', 'x-custom']), body: '{}', status: 415, error: /^Request refused$/ },
  { name: 'gzip that is not gzip', method: 'POST', path: '/process', headers: json(['Content-Encoding', 'gzip']), body: 'not gzip', status: 400, error: MALFORMED },
  { name: 'gzip bomb (1 KB that inflates to 16 MB)', method: 'POST', path: '/process', headers: json(['Content-Encoding', 'gzip']), body: gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20)), status: 413, error: /^Request body too large$/ },
  // Unknown paths and methods
  { name: 'PUT /process', method: 'PUT', path: '/process', status: 405, error: METHOD },
  { name: 'PATCH /process', method: 'PATCH', path: '/process', status: 405, error: METHOD },
  { name: 'DELETE /single/<known>', method: 'DELETE', path: `/single/${KNOWN}`, status: 405, error: METHOD },
  { name: 'OPTIONS /process', method: 'OPTIONS', path: '/process', status: 405, error: METHOD },
  { name: 'TRACE /process', method: 'TRACE', path: '/process', status: 405, error: METHOD },
  { name: 'HEAD /process (no body by definition)', method: 'HEAD', path: '/process', status: 405 },
  { name: 'PUT without a key is 401 first', method: 'PUT', path: '/process', key: null, status: 401, error: /Missing key value/ },
  { name: 'POST /runs: only GET exists', method: 'POST', path: '/runs', status: 404, error: NOT_FOUND },
  { name: 'DELETE /runs/<id>', method: 'DELETE', path: '/runs/00000000-0000-0000-0000-000000000000', status: 404, error: NOT_FOUND },
  { name: 'POST /healthcheck', method: 'POST', path: '/healthcheck', status: 404, error: NOT_FOUND },
  { name: 'unknown path', path: '/admin', status: 404, error: NOT_FOUND },
  { name: '/.env', path: '/.env', status: 404, error: NOT_FOUND },
  { name: '/single without a domain', path: '/single', status: 404, error: NOT_FOUND },
  { name: '/single/ with an empty domain', path: '/single/', status: 404, error: NOT_FOUND },
  { name: 'extra segment after the domain', path: `/single/${KNOWN}/extra`, status: 404, error: NOT_FOUND },
  { name: 'raw traversal out of /single', path: '/single/../process', status: 404, error: NOT_FOUND },
  { name: 'raw traversal to a file', path: '/healthcheck/../../etc/passwd', status: 404, error: NOT_FOUND },
  { name: 'double slash', path: '//process', status: 404, error: NOT_FOUND },
  { name: 'encoded traversal at the root', path: '/%2e%2e/%2e%2e/etc/passwd', status: 404, error: NOT_FOUND },
];

describe('hostile HTTP input', () => {
  it('has at least 60 cases over every surface', () => {
    expect(httpCases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(httpCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await send(c);
    const detail = `${c.method ?? 'GET'} ${c.path.slice(0, 120)} -> ${res.status} ${res.body.slice(0, 300)}`;
    expect(res.status, detail).toBe(c.status);
    if (c.method !== 'HEAD') {
      expect(res.headers['content-type'], detail).toMatch(/^application\/json/);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(Object.keys(body), detail).toEqual(['error']);
      expect(body.error, detail).toMatch(c.error ?? /./);
      expect(res.body, detail).not.toMatch(/node_modules|\s+at \S+ \(/); // no stack traces
    }
    await expectNothingWritten();
  });

  const rawCases: Array<[string, string, number, RegExp]> = [
    ['request smuggling: Content-Length and Transfer-Encoding together', `POST /process HTTP/1.1\r\nHost: x\r\nFlask-Key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, /^Malformed HTTP request$/],
    ['unknown method', `FROB /process HTTP/1.1\r\nHost: x\r\nFlask-Key: ${API_KEY}\r\n\r\n`, 400, /^Malformed HTTP request$/],
    ['control character in a header value', `GET /process HTTP/1.1\r\nHost: x\r\nFlask-Key: ${API_KEY}\u0001\r\n\r\n`, 400, /^Malformed HTTP request$/],
    ['NUL in the request line', `GET /single/${KNOWN}\u0000 HTTP/1.1\r\nHost: x\r\nFlask-Key: ${API_KEY}\r\n\r\n`, 400, /^Malformed HTTP request$/],
    ['garbage instead of HTTP', 'HELLO THERE\r\n\r\n', 400, /^Malformed HTTP request$/],
    ['raw UTF-8 in the path', `GET /single/b\u00fccher.${KNOWN} HTTP/1.1\r\nHost: x\r\nFlask-Key: ${API_KEY}\r\n\r\n`, 400, /^Malformed HTTP request$/],
  ];

  it.each(rawCases)('parser level: %s', async (_name, text, status, error) => {
    const res = await sendRaw(text);
    expect(res.status, res.body).toBe(status);
    expect(JSON.parse(res.body)).toEqual({ error: expect.stringMatching(error) });
    await expectNothingWritten();
  });
});

// ---------------------------------------------------------------------------
// CLI (the real binary, configured like the service, on the same database)

interface CliCase {
  name: string;
  args: string[];
  /** Stderr must say this. */
  says: RegExp;
}

// Created at collection time: the case table names its files.
const csvDir = mkdtempSync(join(tmpdir(), 'autotls-hardening-csv-'));
const csv = (name: string, text: string | Buffer): string => {
  const path = join(csvDir, name);
  writeFileSync(path, text);
  return path;
};

const cliCases: CliCase[] = [
  { name: 'single: traversal', args: ['single', '../etc/passwd'], says: /^Invalid domain name "\.\.\/etc\/passwd": / },
  { name: 'single: wildcard', args: ['single', `*.${KNOWN}`], says: /^Invalid domain name/ },
  { name: 'single: empty', args: ['single', ''], says: /^Invalid domain name "": Domain name is empty/ },
  { name: 'single: 300 characters', args: ['single', long(300)], says: /maximum is 253/ },
  { name: 'single: newline', args: ['single', `${KNOWN}\nrm -rf /`], says: /^Invalid domain name/ },
  { name: 'single: unknown option', args: ['single', KNOWN, '--force'], says: /error: unknown option '--force'/ },
  { name: 'process: a value for a switch', args: ['process', '--testmode=no'], says: /error: .*--testmode/ },
  { name: 'domains add: bad name', args: ['domains', 'add', 'bad..name', '--zone-id', 'z31.test'], says: /^Invalid domain name "bad\.\.name"/ },
  { name: 'domains add: zone id with a space', args: ['domains', 'add', `new.${KNOWN}`, '--zone-id', 'z31 test'], says: /--zone-id must be/ },
  { name: 'domains add: missing --zone-id', args: ['domains', 'add', `new.${KNOWN}`], says: /error: required option '--zone-id <id>' not specified/ },
  { name: 'domains import: missing file', args: ['domains', 'import', join(csvDir, 'nope.csv')], says: /^Cannot read / },
  { name: 'domains import: no header', args: ['domains', 'import', csv('noheader.csv', `${KNOWN},z31.test\n`)], says: /must name the columns "name" and "zone_id"/ },
  { name: 'domains import: one bad row among good ones', args: ['domains', 'import', csv('mixed.csv', `name,zone_id\ngood.${KNOWN},z31.test\n../etc,z31.test\n`)], says: /1 invalid row\(s\) in .*nothing was imported[\s\S]*line 3: invalid domain name/ },
  { name: 'domains import: unterminated quote', args: ['domains', 'import', csv('quote.csv', `name,zone_id\n"good.${KNOWN},z31.test\n`)], says: /line 2: unterminated quoted field/ },
  { name: 'domains import: duplicate rows', args: ['domains', 'import', csv('dup.csv', `name,zone_id\na.${KNOWN},z31.test\nA.${KNOWN},z31.test\n`)], says: /line 3: duplicate domain a\.z31\.test/ },
  { name: 'domains import: formula injection', args: ['domains', 'import', csv('formula.csv', `name,zone_id\n"=HYPERLINK(""http://x"")",z31.test\n`)], says: /line 2: invalid domain name/ },
  { name: 'domains import: control character in zone_id', args: ['domains', 'import', csv('ctl.csv', `name,zone_id\nc.${KNOWN},z31\u0007test\n`)], says: /line 2: zone_id is too long or contains whitespace/ },
  { name: 'domains import: binary garbage', args: ['domains', 'import', csv('garbage.csv', Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x00, 0x2c, 0x00, 0x0a]))], says: /must name the columns/ },
  { name: 'domains import: a 1 MB name', args: ['domains', 'import', csv('huge.csv', `name,zone_id\n${long(1024 * 1024)},z31.test\n`)], says: /line 2: invalid domain name/ },
  { name: 'fastly cleanup-keys: a value for a switch', args: ['fastly', 'cleanup-keys', '--dry-run=yes'], says: /error: unknown option '--dry-run=yes'/ },
  { name: 'account create: not an email', args: ['account', 'create', '--email', 'not-an-email'], says: /--email "not-an-email" is not an email address/ },
  { name: 'forecast: --days not a number', args: ['forecast', '--days', 'abc'], says: /^--days must be a whole number between 1 and 3650, not "abc"/ },
  { name: 'forecast: zero days', args: ['forecast', '--days', '0'], says: /^--days must be a whole number between 1 and 3650, not "0"/ },
  { name: 'forecast: days as an expression', args: ['forecast', '--days', '1e3'], says: /^--days must be a whole number/ },
  { name: 'forecast: --svg without a file', args: ['forecast', '--svg'], says: /error: option '--svg <file>' argument missing/ },
  { name: 'ari refresh: traversal', args: ['ari', 'refresh', '../etc/passwd'], says: /^Invalid domain name "\.\.\/etc\/passwd": / },
  { name: 'ari refresh: neither a domain nor --all', args: ['ari', 'refresh'], says: /^Give a domain, or --all for every recorded certificate/ },
  { name: 'ari refresh: a domain and --all', args: ['ari', 'refresh', KNOWN, '--all'], says: /^Give either a domain or --all, not both/ },
  { name: 'revoke: traversal', args: ['revoke', '../etc/passwd'], says: /^Invalid domain name "\.\.\/etc\/passwd": / },
  { name: 'revoke: missing domain', args: ['revoke'], says: /error: missing required argument 'domain'/ },
  { name: 'revoke: a reason Let\'s Encrypt refuses', args: ['revoke', KNOWN, '--reason', 'affiliationChanged'], says: /^--reason "affiliationChanged" is not one Let's Encrypt accepts; use one of: unspecified, keyCompromise, superseded, cessationOfOperation/ },
  { name: 'revoke: a reason code instead of a name', args: ['revoke', KNOWN, '--reason', '1'], says: /^--reason "1" is not one Let's Encrypt accepts/ },
  { name: 'revoke: a reason with a newline', args: ['revoke', KNOWN, '--reason', 'keyCompromise\nrm -rf /'], says: /^--reason "keyCompromise\\nrm -rf \/" is not one/ },
  { name: 'revoke: --reason without a value', args: ['revoke', KNOWN, '--reason'], says: /error: option '--reason <reason>' argument missing/ },
  { name: 'revoke: unknown domain', args: ['revoke', `nowhere.${KNOWN}`], says: /^Domain nowhere\.z31\.test not found in the domains table/ },
  { name: 'unknown command', args: ['frobnicate'], says: /error: unknown command 'frobnicate'/ },
];

describe('hostile CLI arguments and CSV imports', () => {
  const results = new Map<string, CliResult>();

  beforeAll(async () => {
    const env = { ...h.env, LOG_LEVEL: 'warn' };
    // Three at a time: the machine is shared.
    const queue = [...cliCases];
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) results.set(c.name, await runCli(c.args, env, h.shared.dir, 60_000));
      }),
    );
  }, 180_000);

  it('has a case for every command that takes input', () => {
    expect(cliCases.length).toBeGreaterThanOrEqual(20);
    // Every leaf command of the real program, by name: those that take an argument
    // or an option beyond --json need a case; the others are listed here, so a new
    // command must be placed on one side or the other.
    const withoutInput = ['migrate', 'serve', 'domains list', 'status', 'fastly certs'];
    const leaves = (command: Command, path: string[]): Array<{ path: string[]; takesInput: boolean }> =>
      command.commands.length > 0
        ? command.commands.flatMap((sub) => leaves(sub, [...path, sub.name()]))
        : [{ path, takesInput: command.registeredArguments.length > 0 || command.options.some((o) => o.long !== '--json') }];
    const commands = leaves(buildProgram(), []);
    expect(commands.filter((c) => !c.takesInput).map((c) => c.path.join(' '))).toEqual(withoutInput);
    const needCases = commands.filter((c) => c.takesInput).map((c) => c.path);
    expect(needCases.map((p) => p.join(' '))).toEqual(['process', 'single', 'domains add', 'domains import', 'account create', 'fastly cleanup-keys', 'forecast', 'ari refresh', 'revoke']);
    for (const path of needCases) {
      expect(cliCases.filter((c) => path.every((part, i) => c.args[i] === part)).length, `a case for "${path.join(' ')}"`).toBeGreaterThan(0);
    }
  });

  it.each(cliCases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = results.get(c.name) as CliResult;
    expect(r.code, show(r)).toBe(2);
    expect(r.stdout, show(r)).toBe('');
    expect(r.stderr, show(r)).toMatch(c.says);
    expect(r.stderr, show(r)).not.toMatch(/\n\s+at \S+ \(|node_modules/);
  });

  it('wrote nothing', async () => {
    await expectNothingWritten();
  });
});

// ---------------------------------------------------------------------------
// Authentication abuse

describe('authentication abuse', () => {
  it('answers 429 with Retry-After after repeated 401s from one client, and only for that client', async () => {
    const from = (address: string, key: string | null, extra: Array<[string, string]> = []): Promise<RawResponse> =>
      new Promise((resolve, reject) => {
        const headers: string[] = ['Host', `127.0.0.1:${port}`];
        if (key !== null) headers.push('Flask-Key', key);
        for (const [k, v] of extra) headers.push(k, v);
        const req = httpRequest({ host: '127.0.0.1', port, path: '/runs?limit=1', headers, localAddress: address }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const attacker = '127.0.2.1';
    const statuses: number[] = [];
    // X-Forwarded-For is not trusted: spoofing it does not give a fresh allowance.
    for (let i = 0; i < 12; i++) statuses.push((await from(attacker, `guess-${i}`, [['X-Forwarded-For', `203.0.113.${i}`]])).status);
    expect(statuses.slice(0, 10)).toEqual(Array<number>(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    const limited = await from(attacker, API_KEY); // even the right key waits
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(JSON.parse(limited.body)).toEqual({ error: 'Too many requests with a missing or wrong API key; try again later' });
    expect((await from('127.0.2.2', API_KEY)).status).toBe(200);
  });

  it('does not flood Slack: 50 bad requests from 50 addresses make one aggregated alert', async () => {
    const alerts = (): number => h.shared.slack.posts.filter((p) => /refused a request/.test(JSON.stringify(p.body))).length;
    // Earlier cases already alerted once in this window; a new window would start with one post.
    const before = alerts();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        send({ name: 'spray', path: '/process', key: i % 2 ? `wrong-${i}` : 'wrong', status: 401 }).then((r) => expect(r.status).toBe(401)),
      ),
    );
    await new Promise((r) => setTimeout(r, 500)); // let any alert posts arrive
    // One new window at most (plus, by chance, the count summary of the window that
    // just ended); before the alert text stopped naming the client, this was 20.
    expect(alerts()).toBeGreaterThanOrEqual(1);
    expect(alerts() - before).toBeLessThanOrEqual(2);
    await expectNothingWritten();
  });

  it('sends helmet security headers on every answer, public, refused or not found', async () => {
    for (const c of [
      { name: 'public', path: '/healthcheck', key: null, status: 200 },
      { name: 'refused', path: '/process', key: null, status: 401 },
      { name: 'invalid', path: '/single/%2e%2e', status: 400 },
      { name: 'unknown', path: '/nope', status: 404 },
    ] satisfies HttpCase[]) {
      const res = await send(c);
      expect(res.status).toBe(c.status);
      expect(res.headers['x-content-type-options'], c.name).toBe('nosniff');
      expect(res.headers['x-frame-options'], c.name).toBe('SAMEORIGIN');
      expect(res.headers['content-security-policy'], c.name).toContain("default-src 'self'");
      expect(res.headers['strict-transport-security'], c.name).toMatch(/max-age=\d+/);
      expect(res.headers['referrer-policy'], c.name).toBe('no-referrer');
      expect(res.headers['x-powered-by'], c.name).toBeUndefined();
    }
  });
});
