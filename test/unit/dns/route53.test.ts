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

const LIST_XML = `<?xml version="1.0"?>
<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets><ResourceRecordSet><Name>_acme-challenge.a.z.test.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"v1"</Value></ResourceRecord><ResourceRecord><Value>"part1" "part2"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`;
const CHANGE_XML = (status: string): string =>
  `<?xml version="1.0"?>\n<ChangeResourceRecordSetsResponse xmlns="${NS}"><ChangeInfo><Id>/change/C1</Id><Status>${status}</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`;
const GET_CHANGE_XML = (status: string): string =>
  `<?xml version="1.0"?>\n<GetChangeResponse xmlns="${NS}"><ChangeInfo><Id>/change/C1</Id><Status>${status}</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>`;

describe('Route53Provider', () => {
  let server: Server;
  let endpoint: string;
  /** Queue of canned failures for the next requests: [status, code]. */
  const failures: Array<[number, string]> = [];
  const seen: Array<{ method: string; path: string; at: number }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method ?? '', path: req.url ?? '', at: performance.now() });
        const failure = failures.shift();
        res.setHeader('content-type', 'text/xml');
        if (failure) {
          res.statusCode = failure[0];
          res.end(errorXml(failure[1], `${failure[1]} (test)`));
        } else if (req.url?.includes('/rrset') && req.method === 'GET') res.end(LIST_XML);
        else if (req.url?.includes('/rrset') && req.method === 'POST') res.end(CHANGE_XML('PENDING'));
        else if (req.url?.includes('/change/')) res.end(GET_CHANGE_XML('INSYNC'));
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
    seen.length = 0;
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
    await provider().setTxt('Z1', '_acme-challenge.a.z.test', ['v']);
    expect(seen.map((s) => `${s.method} ${s.path.split('?')[0]}`)).toEqual([
      'POST /2013-04-01/hostedzone/Z1/rrset',
      'POST /2013-04-01/hostedzone/Z1/rrset',
      'POST /2013-04-01/hostedzone/Z1/rrset',
      'GET /2013-04-01/change/C1',
    ]);
    const gap1 = (seen[1]?.at ?? 0) - (seen[0]?.at ?? 0);
    const gap2 = (seen[2]?.at ?? 0) - (seen[1]?.at ?? 0);
    expect(gap1).toBeGreaterThanOrEqual(240); // base 500 ms, full jitter in [250, 500]
    expect(gap2).toBeGreaterThanOrEqual(490); // doubled: [500, 1000]
  });

  it('gives up after the bounded number of attempts', async () => {
    failures.push([400, 'Throttling'], [400, 'Throttling'], [400, 'Throttling']);
    await expect(provider({ attempts: 2 }).listTxt('Z1', '_acme-challenge.a.z.test')).rejects.toThrow(/Route53 ListResourceRecordSets failed: Throttling/);
    expect(seen).toHaveLength(2);
  });

  it('does not retry a permanent error', async () => {
    failures.push([400, 'InvalidChangeBatch']);
    await expect(provider().setTxt('Z1', '_acme-challenge.a.z.test', ['v'])).rejects.toThrow(/InvalidChangeBatch/);
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
