// The PowerDNS provider's error handling, retries and request shapes, against a
// scripted HTTP stub. The stub's answers are the ones PowerDNS Authoritative 4.7.3
// gives (observed on the testbed's pdns_server, test/testbed/pdns.ts): 401 with the
// text body "Unauthorized" for a wrong X-API-Key, 404 "Not Found" for an unknown
// zone or server id, 422 with {"error": "..."} for a refused RRset, 500 with
// {"error": "..."} when the sqlite backend is locked, 204 for a PATCH, and the
// Zone object of https://doc.powerdns.com/authoritative/http-api/zone.html for GET.
// The behaviour against the real server is in test/integration/dns/pdns.test.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { PdnsApiError, PdnsProvider, canonicalZone, txtContent } from '../../../src/dns/pdns.js';
import { DnsProviderError } from '../../../src/dns/provider.js';
import { createDnsProvider } from '../../../src/dns/index.js';
import { loadSettings, secretValues } from '../../../src/config/index.js';
import { expectProblem } from '../config/helpers.js';

const KEY = 'pdns-unit-key-7c1d2e9f';
const ZONE = 'z60.test';

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  key: string | undefined;
  body: unknown;
}
type Reply = { status: number; body?: unknown; text?: string; headers?: Record<string, string>; delayMs?: number };

/** A stub: answers each request with the next scripted reply, else with `fallback`. */
class Stub {
  readonly seen: Seen[] = [];
  readonly script: Reply[] = [];
  fallback: (seen: Seen) => Reply = () => ({ status: 404, text: 'Not Found' });
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const url = new URL(req.url ?? '/', 'http://stub');
    const seen: Seen = {
      method: req.method ?? '',
      path: decodeURIComponent(url.pathname),
      query: Object.fromEntries(url.searchParams),
      key: req.headers['x-api-key'] as string | undefined,
      body: raw ? (JSON.parse(raw) as unknown) : undefined,
    };
    this.seen.push(seen);
    const reply = this.script.shift() ?? this.fallback(seen);
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (res.destroyed) return;
    const text = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
    res.writeHead(reply.status, { 'content-type': reply.text === undefined ? 'application/json' : 'text/plain', ...reply.headers });
    res.end(text);
  }
}

const zoneDoc = (rrsets: unknown[] = []): Reply => ({
  status: 200,
  body: { id: `${ZONE}.`, name: `${ZONE}.`, kind: 'Native', url: `/api/v1/servers/localhost/zones/${ZONE}.`, serial: 1, rrsets },
});
const txtSet = (name: string, contents: string[], ttl = 60): unknown => ({
  name: `${name}.`,
  type: 'TXT',
  ttl,
  records: contents.map((content) => ({ content, disabled: false })),
  comments: [],
});

describe('PdnsProvider (against a stub of the PowerDNS API)', () => {
  const stub = new Stub();
  const lines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  const provider = (overrides: Partial<ConstructorParameters<typeof PdnsProvider>[0]> = {}): PdnsProvider =>
    new PdnsProvider({ apiUrl: stub.url, apiKey: KEY, timeoutMs: 1_000, maxRetryAfterMs: 50, ...overrides }, logger);

  beforeAll(() => stub.start());
  afterAll(() => stub.stop());
  afterEach(() => {
    stub.seen.length = 0;
    stub.script.length = 0;
    lines.length = 0;
    stub.fallback = () => ({ status: 404, text: 'Not Found' });
  });

  it('sends the key in X-API-Key to /api/v1/servers/<server>/zones/<zone.>, and REPLACEs the union, quoted', async () => {
    const fqdn = `_acme-challenge.a.${ZONE}`;
    let stored = ['"foreign"'];
    stub.fallback = (seen) => {
      if (seen.method === 'PATCH') {
        const change = (seen.body as { rrsets: { records: { content: string }[] }[] }).rrsets[0];
        stored = change?.records.map((r) => r.content) ?? [];
        return { status: 204 };
      }
      return zoneDoc([txtSet(fqdn, stored, 300)]);
    };
    await provider({ apiUrl: `${stub.url}/` }).addTxt(ZONE, fqdn, ['ours']);
    expect(stub.seen.every((s) => s.key === KEY)).toBe(true);
    expect(stub.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /api/v1/servers/localhost/zones/z60.test.',
      'PATCH /api/v1/servers/localhost/zones/z60.test.',
      'GET /api/v1/servers/localhost/zones/z60.test.',
    ]);
    // The read that is written back lists the whole zone (a filtered read omits disabled records).
    expect(stub.seen[0]?.query).toEqual({});
    expect(stub.seen[2]?.query).toEqual({ rrset_name: `${fqdn}.`, rrset_type: 'TXT' });
    expect(stub.seen[1]?.body).toEqual({
      rrsets: [{ name: `${fqdn}.`, type: 'TXT', ttl: 300, changetype: 'REPLACE', records: [{ content: '"foreign"', disabled: false }, { content: '"ours"', disabled: false }] }],
    });
  });

  it('writes disabled foreign records back as they are, and enables a disabled record of a value it adds', async () => {
    const fqdn = `_acme-challenge.dis.${ZONE}`;
    let patched: unknown;
    const set = { name: `${fqdn}.`, type: 'TXT', ttl: 120, records: [{ content: '"parked"', disabled: true }, { content: '"ours"', disabled: true }] };
    stub.fallback = (seen) => {
      if (seen.method === 'PATCH') {
        patched = seen.body;
        return { status: 204 };
      }
      return patched ? zoneDoc([txtSet(fqdn, ['"ours"'])]) : zoneDoc([set]);
    };
    expect(await provider().listTxt(ZONE, fqdn)).toEqual([]); // disabled records are not served
    await provider().addTxt(ZONE, fqdn, ['ours']);
    expect(patched).toEqual({
      rrsets: [{ name: `${fqdn}.`, type: 'TXT', ttl: 120, changetype: 'REPLACE', records: [{ content: '"parked"', disabled: true }, { content: '"ours"', disabled: false }] }],
    });
  });

  it('DELETEs the RRset when the last value goes, and sends nothing when there is nothing to remove', async () => {
    const fqdn = `_acme-challenge.d.${ZONE}`;
    let present = true;
    stub.fallback = (seen) => {
      if (seen.method === 'PATCH') {
        present = false;
        return { status: 204 };
      }
      return zoneDoc(present ? [txtSet(fqdn, ['"gone"'])] : []);
    };
    await provider().removeTxt(ZONE, fqdn, ['gone']);
    expect(stub.seen.find((s) => s.method === 'PATCH')?.body).toEqual({ rrsets: [{ name: `${fqdn}.`, type: 'TXT', changetype: 'DELETE' }] });
    stub.seen.length = 0;
    await provider().removeTxt(ZONE, fqdn, ['gone']);
    expect(stub.seen.map((s) => s.method)).toEqual(['GET']);
  });

  it('retries 5xx (a locked sqlite backend) and network-level timeouts, then succeeds', async () => {
    const fqdn = `_acme-challenge.r.${ZONE}`;
    let stored: string[] = [];
    stub.script.push(
      { status: 500, body: { error: 'GSQLBackend unable to delete RRSet: database is locked (5)' } },
      zoneDoc([]),
      { status: 200, delayMs: 1_500, body: {} }, // the PATCH times out (timeoutMs 1 s)
    );
    stub.fallback = (seen) => {
      if (seen.method === 'PATCH') {
        stored = ((seen.body as { rrsets: { records: { content: string }[] }[] }).rrsets[0]?.records ?? []).map((r) => r.content);
        return { status: 204 };
      }
      return zoneDoc(stored.length ? [txtSet(fqdn, stored)] : []);
    };
    await provider().addTxt(ZONE, fqdn, ['v']);
    expect(stub.seen.map((s) => s.method)).toEqual(['GET', 'GET', 'PATCH', 'PATCH', 'GET']);
    expect(lines.filter((l) => l.includes('pdns: retrying'))).toHaveLength(2);
    expect(lines.some((l) => /timed out after 1000 ms/.test(l))).toBe(true);
  });

  it('honours Retry-After on 429, capped', async () => {
    stub.script.push({ status: 429, headers: { 'retry-after': '120' }, text: 'Too Many Requests' }, zoneDoc([]));
    const started = performance.now();
    expect(await provider().listTxt(ZONE, `_acme-challenge.l.${ZONE}`)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000); // 120 s capped at maxRetryAfterMs (50 ms)
    expect(lines.some((l) => l.includes('"delayMs":50'))).toBe(true);
  });

  it('gives up after the bounded number of attempts, naming the step and the last cause', async () => {
    stub.fallback = () => ({ status: 503, text: 'Service Unavailable' });
    const error = await provider({ attempts: 3 }).addTxt(ZONE, `_acme-challenge.g.${ZONE}`, ['x']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsProviderError);
    expect((error as Error).message).toBe(`PowerDNS: adding TXT values at _acme-challenge.g.${ZONE} failed: GET /api/v1/servers/localhost/zones/z60.test.: HTTP 503`);
    expect(stub.seen).toHaveLength(3);
  });

  it('401 and 403: one sentence naming the step and PDNS_API_KEY, no retry, never the key (also not in the logs)', async () => {
    for (const status of [401, 403]) {
      stub.seen.length = 0;
      stub.fallback = () => ({ status, text: status === 401 ? 'Unauthorized' : 'Forbidden' });
      const error = await provider().removeTxt(ZONE, `_acme-challenge.k.${ZONE}`, ['x']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PdnsApiError);
      expect((error as PdnsApiError).status).toBe(status);
      expect((error as Error).message).toBe(
        `PowerDNS: removing TXT values at _acme-challenge.k.${ZONE}: the API rejected the key (HTTP ${status} for GET /api/v1/servers/localhost/zones/z60.test.); ` +
          'check PDNS_API_KEY against the api-key of the server, and that webserver-allow-from admits this host',
      );
      expect(stub.seen).toHaveLength(1);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(KEY);
  });

  it('404: names the zone, PDNS_SERVER_NAME and PDNS_API_URL', async () => {
    const error = await provider({ serverName: 'ns-primary' }).listTxt('nope.test.', '_acme-challenge.nope.test').catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'PowerDNS: listing: not found (HTTP 404 for GET /api/v1/servers/ns-primary/zones/nope.test.); check that the zone exists on the server ' +
        '(zone_id is the PowerDNS zone name), PDNS_SERVER_NAME (now "ns-primary") and PDNS_API_URL',
    );
    expect(stub.seen).toHaveLength(1);
  });

  it("422: the server's own reason, not retried", async () => {
    stub.script.push(zoneDoc([]), { status: 422, body: { error: 'RRset x.other.test. IN TXT: Name is out of zone' } });
    await expect(provider().addTxt(ZONE, 'x.other.test', ['v'])).rejects.toThrow(
      'PowerDNS: adding TXT values at x.other.test: the server refused the change (HTTP 422: RRset x.other.test. IN TXT: Name is out of zone)',
    );
    expect(stub.seen).toHaveLength(2);
  });

  it('an answer that is not the documented Zone object fails clearly', async () => {
    stub.script.push({ status: 200, text: '<html>proxy login</html>' });
    await expect(provider().listTxt(ZONE, `_acme-challenge.h.${ZONE}`)).rejects.toThrow(/^PowerDNS: listing: unexpected answer to GET .* \(HTTP 200, not JSON\)$/);
    stub.script.push({ status: 200, body: { rrsets: 'nope' } });
    await expect(provider().listTxt(ZONE, `_acme-challenge.h.${ZONE}`)).rejects.toThrow(/^PowerDNS: listing: unexpected answer/);
  });

  it('a write undone by a concurrent writer is written again; a set that keeps changing fails after the bounded rounds', async () => {
    const fqdn = `_acme-challenge.cas.${ZONE}`;
    // Every read-back shows someone else's REPLACE won: our value is never there.
    stub.fallback = (seen) => (seen.method === 'PATCH' ? { status: 204 } : zoneDoc([txtSet(fqdn, ['"theirs"'])]));
    await expect(provider({ rounds: 3 }).addTxt(ZONE, fqdn, ['ours'])).rejects.toThrow(
      `PowerDNS: adding TXT values at ${fqdn}: the RRset kept changing under us (3 rounds)`,
    );
    expect(stub.seen.filter((s) => s.method === 'PATCH')).toHaveLength(3);
  });

  it('findZone asks for each ancestor with ?zone=<name.> and returns the name without the dot', async () => {
    stub.fallback = (seen) =>
      seen.query.zone === `${ZONE}.` ? { status: 200, body: [{ id: `${ZONE}.`, name: `${ZONE}.`, kind: 'Native' }] } : { status: 200, body: [] };
    expect(await provider().findZone(`_acme-challenge.www.${ZONE}`)).toBe(ZONE);
    expect(stub.seen.map((s) => s.query.zone)).toEqual([`_acme-challenge.www.${ZONE}.`, `www.${ZONE}.`, `${ZONE}.`]);
    stub.fallback = () => ({ status: 200, body: [] });
    expect(await provider().findZone('a.b.invalid')).toBeUndefined();
  });

  it('takes an API URL that already ends with /api/v1', async () => {
    stub.fallback = () => zoneDoc([]);
    await provider({ apiUrl: `${stub.url}/api/v1` }).listTxt(ZONE, `_acme-challenge.u.${ZONE}`);
    expect(stub.seen[0]?.path).toBe('/api/v1/servers/localhost/zones/z60.test.');
  });
});

describe('PowerDNS TXT content and zone names', () => {
  it('reads presentation format: several strings joined, \\" \\\\ and \\DDD decimal escapes', () => {
    expect(txtContent('"abc"')).toBe('abc');
    expect(txtContent('"part-one" "part-two"')).toBe('part-onepart-two');
    expect(txtContent('"say \\"hi\\" \\\\ \\065"')).toBe('say "hi" \\ A');
    expect(txtContent('bare')).toBe('bare');
  });

  it('names zones canonically', () => {
    expect(canonicalZone('Z60.test')).toBe('z60.test.');
    expect(canonicalZone('z60.test.')).toBe('z60.test.');
  });
});

describe('PowerDNS configuration', () => {
  it('DNS_PROVIDER=pdns needs PDNS_API_URL and PDNS_API_KEY; PDNS_SERVER_NAME defaults to localhost', () => {
    expectProblem({ DNS_PROVIDER: 'pdns', PDNS_API_KEY: KEY }, 'PDNS_API_URL', { includes: ['required when DNS_PROVIDER=pdns'], hidden: [KEY] });
    expectProblem({ DNS_PROVIDER: 'pdns', PDNS_API_URL: 'http://127.0.0.1:8081' }, 'PDNS_API_KEY', { includes: ['required when DNS_PROVIDER=pdns'] });
    const settings = loadSettings({ DNS_PROVIDER: 'pdns', PDNS_API_URL: 'http://127.0.0.1:8081/', PDNS_API_KEY: KEY });
    expect(settings.dns.pdns).toEqual({ apiUrl: 'http://127.0.0.1:8081', apiKey: KEY, serverName: 'localhost' });
    expect(createDnsProvider(settings, pino({ level: 'silent' })).name).toBe('pdns');
  });

  it('PDNS_API_KEY is a secret: scrubbed from logs and never shown when refused', () => {
    const settings = loadSettings({ DNS_PROVIDER: 'pdns', PDNS_API_URL: 'http://127.0.0.1:8081', PDNS_API_KEY: KEY });
    expect(secretValues(settings)).toContain(KEY);
    expectProblem({ PDNS_API_KEY: 'key with spaces secret' }, 'PDNS_API_KEY', { includes: ['must not contain spaces'], hidden: ['key with spaces secret'] });
    expectProblem({ PDNS_API_URL: 'ftp://pdns' }, 'PDNS_API_URL', { includes: ['http://'] });
    expectProblem({ DNS_PROVIDER: 'powerdns' }, 'DNS_PROVIDER', { includes: ['use pdns'] });
  });

  it('the factory names the missing variable', () => {
    const settings = loadSettings({});
    expect(() => createDnsProvider({ ...settings, dns: { ...settings.dns, provider: 'pdns' } }, pino({ level: 'silent' }))).toThrow('DNS_PROVIDER=pdns needs PDNS_API_URL');
  });
});
