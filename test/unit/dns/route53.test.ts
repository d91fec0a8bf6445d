import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { bareZoneId, quoteTxt, Route53Provider, unquoteTxt } from '../../../src/dns/route53.js';

const logger = pino({ level: 'silent' });
const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;
}

/** The record set the canned server holds (XML-escaped Values); POSTs change it as Route 53 would. */
const INITIAL_VALUES = ['"v1"', '"part1" "part2"'];
let held: string[] = [...INITIAL_VALUES];
/** Runs before a GetChange is answered: a concurrent writer's change landing. */
let beforeChangePoll: (() => void) | undefined;
const LIST_XML = (): string => `<?xml version="1.0"?>
<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${held.length === 0 ? '' : `<ResourceRecordSet><Name>_acme-challenge.a.z.test.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords>${held.map((v) => `<ResourceRecord><Value>${v}</Value></ResourceRecord>`).join('')}</ResourceRecords></ResourceRecordSet>`}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`;
const CHANGE_XML = (status: string): string =>
  `<?xml version="1.0"?>\n<ChangeResourceRecordSetsResponse xmlns="${NS}"><ChangeInfo><Id>/change/C1</Id><Status>${status}</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`;
const GET_CHANGE_XML = (status: string): string =>
  `<?xml version="1.0"?>\n<GetChangeResponse xmlns="${NS}"><ChangeInfo><Id>/change/C1</Id><Status>${status}</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>`;

describe('Route53Provider', () => {
  let server: Server;
  let endpoint: string;
  /** Queue of canned failures for the next requests: [status, code]. */
  const failures: Array<[number, string]> = [];
  /** Canned failures for the next change batches (POSTs) only: [status, code, message]. */
  const postFailures: Array<[number, string, string]> = [];
  const seen: Array<{ method: string; path: string; at: number; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', path: req.url ?? '', at: performance.now(), body });
        const failure = failures.shift() ?? (req.method === 'POST' ? postFailures.shift() : undefined);
        res.setHeader('content-type', 'text/xml');
        if (failure) {
          res.statusCode = failure[0];
          res.end(errorXml(failure[1], failure[2] ?? `${failure[1]} (test)`));
        } else if (req.url?.includes('/rrset') && req.method === 'GET') res.end(LIST_XML());
        else if (req.url?.includes('/rrset') && req.method === 'POST') {
          const action = /<Action>(\w+)<\/Action>/.exec(body)?.[1];
          held = action === 'DELETE' ? [] : [...body.matchAll(/<Value>(.*?)<\/Value>/g)].map((m) => m[1] ?? '');
          res.end(CHANGE_XML('PENDING'));
        }
        else if (req.url?.includes('/change/')) {
          beforeChangePoll?.();
          res.end(GET_CHANGE_XML('INSYNC'));
        }
        else {
          res.statusCode = 404;
          res.end(errorXml('NotFound', 'no route'));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    failures.length = 0;
    postFailures.length = 0;
    seen.length = 0;
    held = [...INITIAL_VALUES];
    beforeChangePoll = undefined;
  });

  const provider = (overrides: Partial<ConstructorParameters<typeof Route53Provider>[0]> = {}): Route53Provider =>
    new Route53Provider({ region: 'us-east-1', endpoint, accessKeyId: 'AKID', secretAccessKey: 'SECRET', requestsPerSecond: 100, ...overrides }, logger);

  it('quotes values in ≤255-character strings, escapes quotes and backslashes, and reads them back', () => {
    expect(quoteTxt('abc')).toBe('"abc"');
    expect(quoteTxt('a"b\\c')).toBe('"a\\"b\\\\c"');
    const long = 'x'.repeat(300);
    expect(quoteTxt(long)).toBe(`"${'x'.repeat(255)}" "${'x'.repeat(45)}"`);
    for (const v of ['abc', 'a"b\\c', long, '', 'ünï']) expect(unquoteTxt(quoteTxt(v))).toBe(v);
    expect(unquoteTxt('"a\\052b"')).toBe('a*b');
    expect(bareZoneId('/hostedzone/Z123')).toBe('Z123');
  });

  it('lists and unquotes the record set, joining multi-string values', async () => {
    expect(await provider().listTxt('/hostedzone/Z1', '_acme-challenge.a.z.test')).toEqual(['v1', 'part1part2']);
    expect(seen[0]?.path).toMatch(/^\/2013-04-01\/hostedzone\/Z1\/rrset\?.*name=_acme-challenge\.a\.z\.test.*type=TXT/);
  });

  it('retries Throttling and PriorRequestNotComplete with backoff, then waits for INSYNC', async () => {
    failures.push([400, 'Throttling'], [400, 'PriorRequestNotComplete']);
    await provider().addTxt('Z1', '_acme-challenge.a.z.test', ['v']);
    expect(seen.map((s) => `${s.method} ${s.path.split('?')[0]}`)).toEqual([
      'GET /2013-04-01/hostedzone/Z1/rrset',
      'GET /2013-04-01/hostedzone/Z1/rrset',
      'GET /2013-04-01/hostedzone/Z1/rrset',
      'POST /2013-04-01/hostedzone/Z1/rrset',
      'GET /2013-04-01/change/C1',
      'GET /2013-04-01/hostedzone/Z1/rrset', // reads the set back
    ]);
    const gap1 = (seen[1]?.at ?? 0) - (seen[0]?.at ?? 0);
    const gap2 = (seen[2]?.at ?? 0) - (seen[1]?.at ?? 0);
    expect(gap1).toBeGreaterThanOrEqual(240); // base 500 ms, full jitter in [250, 500]
    expect(gap2).toBeGreaterThanOrEqual(490); // doubled: [500, 1000]
  });

  it('UPSERTs the union with the values already there, keeping their TTL', async () => {
    await provider().addTxt('Z1', '_acme-challenge.a.z.test', ['ours']);
    const post = seen.find((s) => s.method === 'POST')?.body ?? '';
    expect(post).toContain('<Action>UPSERT</Action>');
    expect(post).toContain('<TTL>60</TTL>');
    // The values already there are written back exactly as they were (two strings stay two strings).
    expect([...post.matchAll(/<Value>(.*?)<\/Value>/g)].map((m) => (m[1] ?? '').replaceAll('&quot;', '"'))).toEqual(['"v1"', '"part1" "part2"', '"ours"']);
  });

  it('removes only its own values: UPSERT of the remainder, DELETE of exactly the set when nothing is left', async () => {
    const p = provider();
    await p.addTxt('Z1', '_acme-challenge.a.z.test', ['ours']);
    seen.length = 0;
    await p.removeTxt('Z1', '_acme-challenge.a.z.test', ['ours']);
    const upsert = seen.find((s) => s.method === 'POST')?.body ?? '';
    expect(upsert).toContain('<Action>UPSERT</Action>');
    expect(await p.listTxt('Z1', '_acme-challenge.a.z.test')).toEqual(['v1', 'part1part2']);
    seen.length = 0;
    await p.removeTxt('Z1', '_acme-challenge.a.z.test', ['v1', 'part1part2']);
    const del = seen.find((s) => s.method === 'POST')?.body ?? '';
    expect(del).toContain('<Action>DELETE</Action>');
    expect(del).toContain('<TTL>60</TTL>');
    expect(await p.listTxt('Z1', '_acme-challenge.a.z.test')).toEqual([]);
    seen.length = 0;
    await p.removeTxt('Z1', '_acme-challenge.a.z.test', ['absent']);
    expect(seen.filter((s) => s.method === 'POST')).toEqual([]);
  });

  it('reads again when a DELETE lost a race: InvalidChangeBatch (AWS) and InvalidInput (moto)', async () => {
    const p = provider();
    postFailures.push(
      [400, 'InvalidChangeBatch', '[Tried to delete resource record set [name=\'_acme-challenge.a.z.test.\', type=\'TXT\'] but the values provided do not match the current values]'],
      [400, 'InvalidInput', 'Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=DELETE, Name=_acme-challenge.a.z.test., Type=TXT, SetIdentifier=null]'],
    );
    await p.removeTxt('Z1', '_acme-challenge.a.z.test', ['v1', 'part1part2']);
    expect(seen.filter((s) => s.method === 'POST')).toHaveLength(3);
    expect(await p.listTxt('Z1', '_acme-challenge.a.z.test')).toEqual([]);
  });

  it('writes again when a concurrent writer undid its UPSERT', async () => {
    // Another writer's UPSERT, based on an older read, lands right after ours.
    let undo = 1;
    beforeChangePoll = () => {
      if (undo-- > 0) held = [...INITIAL_VALUES];
    };
    const p = provider();
    await p.addTxt('Z1', '_acme-challenge.a.z.test', ['ours']);
    expect(seen.filter((s) => s.method === 'POST')).toHaveLength(2);
    expect(await p.listTxt('Z1', '_acme-challenge.a.z.test')).toEqual(['v1', 'part1part2', 'ours']);
  });

  it('gives up after a bounded number of rounds when its write keeps being undone', async () => {
    beforeChangePoll = () => {
      held = [...INITIAL_VALUES];
    };
    await expect(provider().addTxt('Z1', '_acme-challenge.a.z.test', ['ours'])).rejects.toThrow(/kept changing under us \(6 rounds\)/);
    expect(seen.filter((s) => s.method === 'POST')).toHaveLength(6);
  });

  it('gives up after the bounded number of attempts', async () => {
    failures.push([400, 'Throttling'], [400, 'Throttling'], [400, 'Throttling']);
    await expect(provider({ attempts: 2 }).listTxt('Z1', '_acme-challenge.a.z.test')).rejects.toThrow(/Route53 ListResourceRecordSets failed: Throttling/);
    expect(seen).toHaveLength(2);
  });

  it('does not retry a permanent error', async () => {
    failures.push([400, 'InvalidChangeBatch']);
    await expect(provider().addTxt('Z1', '_acme-challenge.a.z.test', ['v'])).rejects.toThrow(/InvalidChangeBatch/);
    expect(seen).toHaveLength(1);
  });

  it('keeps under the configured request rate, across concurrent callers', async () => {
    const p = provider({ requestsPerSecond: 10 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 15 }, () => p.listTxt('Z1', '_acme-challenge.a.z.test')));
    // Burst of 10, then 5 more at 10/s: at least ~500 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
    const first = seen[0]?.at ?? 0;
    const inFirstSecondWindow = seen.filter((s) => s.at - first < 1000).length;
    expect(inFirstSecondWindow).toBeLessThanOrEqual(20);
  });

  it('times out a request that hangs', async () => {
    const hang = createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    const started = performance.now();
    await expect(provider({ endpoint: url, requestTimeoutMs: 200, attempts: 2 }).listTxt('Z1', 'a.z.test')).rejects.toThrow(/Route53/);
    expect(performance.now() - started).toBeLessThan(3_000);
    hang.closeAllConnections();
    await new Promise<void>((r) => hang.close(() => r()));
  });
});
