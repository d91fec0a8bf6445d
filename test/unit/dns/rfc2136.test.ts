import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DnsProviderError } from '../../../src/dns/provider.js';
import { Rfc2136Provider } from '../../../src/dns/rfc2136.js';
import { encodeCanonicalName, findTsig, TSIG_TYPE } from '../../../src/dns/tsig.js';
import { MemoryZones, startDnsServer, type RunningDnsServer } from '../../dns/dns-server.js';

const logger = pino({ level: 'silent' });
const SECRET = Buffer.alloc(32, 9).toString('base64');

describe('Rfc2136Provider retry policy (in-process server)', () => {
  let verdict: 'SERVFAIL' | 'REFUSED' | 'drop' | undefined;
  let server: RunningDnsServer;
  const zones = new MemoryZones(['r.test']);

  beforeAll(async () => {
    server = await startDnsServer({ source: zones.source, intercept: () => verdict });
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.queries.length = 0;
  });

  const provider = (): Rfc2136Provider =>
    new Rfc2136Provider({ nameserver: `${server.host}:${server.port}`, tsigKeyName: 'k', tsigSecret: SECRET, timeoutMs: 150, attempts: 3 }, logger);

  it('retries SERVFAIL a bounded number of times, then reports it', async () => {
    verdict = 'SERVFAIL';
    await expect(provider().addTxt('r.test', '_acme-challenge.r.test', ['x'])).rejects.toThrow(/SERVFAIL/);
    expect(server.queries).toHaveLength(3);
    expect(server.queries.every((q) => q.transport === 'tcp' && q.type === 'SOA' && q.name === 'r.test')).toBe(true);
  });

  it('does not retry REFUSED', async () => {
    verdict = 'REFUSED';
    await expect(provider().removeTxt('r.test', '_acme-challenge.r.test', ['x'])).rejects.toThrow(/answered REFUSED/);
    expect(server.queries).toHaveLength(1);
  });

  it('times out a silent server and retries, bounded', async () => {
    verdict = 'drop';
    const started = performance.now();
    await expect(provider().addTxt('r.test', '_acme-challenge.r.test', ['x'])).rejects.toThrow(/timed out after 150 ms/);
    expect(server.queries).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('reads TXT values and finds the zone with plain queries', async () => {
    verdict = undefined;
    zones.setTxt('_acme-challenge.r.test', ['a', 'b']);
    expect((await provider().listTxt('r.test', '_acme-challenge.r.test')).sort()).toEqual(['a', 'b']);
    expect(await provider().listTxt('r.test', '_acme-challenge.none.r.test')).toEqual([]);
    expect(await provider().findZone('_acme-challenge.deep.r.test')).toBe('r.test');
    expect(await provider().findZone('elsewhere.test')).toBeUndefined();
  });
});

/**
 * Knot DNS's answer to a request no `acl:` rule allows (another zone, owner name or
 * record type, or no `action: update` for the key): rcode NOTAUTH with an unsigned TSIG
 * RR (MAC size 0) carrying TSIG error BADKEY (17), the same answer as for a key it does
 * not know. Source: knotd's process_query_acl_check (src/knot/nameserver/process_query.c,
 * `qdata->rcode = KNOT_RCODE_NOTAUTH; qdata->rcode_tsig = KNOT_RCODE_BADKEY;`), and
 * Knot 3.2.6 answering so in test/integration/dns/rfc2136-knot.test.ts.
 */
function knotAclRefusal(query: Buffer, tsigError: number): Buffer {
  const located = findTsig(query);
  if (!located) throw new Error('unsigned request');
  let end = 12;
  while (query[end] !== 0) end += (query[end] ?? 0) + 1;
  const question = query.subarray(12, end + 5);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(query.readUInt16BE(0), 0);
  head.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7800) | 9, 2); // QR, the request's opcode, NOTAUTH
  head.writeUInt16BE(1, 4); // ZOCOUNT
  head.writeUInt16BE(1, 10); // ARCOUNT: the TSIG RR
  const fixed = Buffer.alloc(16);
  fixed.writeUIntBE(located.record.timeSigned, 0, 6);
  fixed.writeUInt16BE(located.record.fudge, 6);
  fixed.writeUInt16BE(0, 8); // MAC size 0: not signed
  fixed.writeUInt16BE(located.record.originalId, 10);
  fixed.writeUInt16BE(tsigError, 12);
  fixed.writeUInt16BE(0, 14); // other len
  const rdata = Buffer.concat([encodeCanonicalName(located.record.algorithm), fixed]);
  const rrFixed = Buffer.alloc(10);
  rrFixed.writeUInt16BE(TSIG_TYPE, 0);
  rrFixed.writeUInt16BE(255, 2); // class ANY
  rrFixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([head, question, encodeCanonicalName(located.record.keyName), rrFixed, rdata]);
}

describe('Rfc2136Provider against a server that refuses by ACL as Knot DNS does (NOTAUTH, TSIG BADKEY)', () => {
  let tcp: Server;
  let port = 0;
  let tsigError = 17;
  let requests = 0;

  beforeAll(async () => {
    tcp = createServer((socket) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
        requests++;
        const reply = knotAclRefusal(buffered.subarray(2, 2 + buffered.readUInt16BE(0)), tsigError);
        const length = Buffer.alloc(2);
        length.writeUInt16BE(reply.length, 0);
        socket.end(Buffer.concat([length, reply]));
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = (tcp.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
  beforeEach(() => {
    requests = 0;
    tsigError = 17;
  });

  const provider = (): Rfc2136Provider =>
    new Rfc2136Provider({ nameserver: `127.0.0.1:${port}`, tsigKeyName: 'acme-key', tsigSecret: SECRET, timeoutMs: 500, attempts: 3 }, logger);

  it('names NOTAUTH and the ACL as well as the key, once, without retrying', async () => {
    const error = (await provider().addTxt('k.test', '_acme-challenge.other.k.test', ['x']).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(DnsProviderError);
    expect(error.message).toBe(
      `RFC2136 update of _acme-challenge.other.k.test at 127.0.0.1:${port}: answered NOTAUTH, TSIG BADKEY: the server does not know key "acme-key", ` +
        'or its ACL does not allow that key to update this name in zone k.test (Knot DNS answers both this way); check RFC2136_TSIG_KEY and ' +
        "RFC2136_TSIG_ALGORITHM, and the server's ACL for k.test (Knot: an acl with this key, action: update, update-type: TXT; BIND: update-policy)",
    );
    expect(error.message).not.toContain(SECRET);
    expect(requests).toBe(1);
    await expect(provider().removeTxt('k.test', '_acme-challenge.other.k.test', ['x'])).rejects.toThrow(/answered NOTAUTH, TSIG BADKEY.*ACL for k\.test/);
  });

  it('says the same for the signed SOA query of the dry run (verifyAccess)', async () => {
    await expect(provider().verifyAccess('k.test')).rejects.toThrow(
      /^RFC2136 signed query for zone k\.test at 127\.0\.0\.1:\d+: answered NOTAUTH, TSIG BADKEY: .*or its ACL does not allow that key to ask in zone k\.test/,
    );
  });

  it('still reports a wrong secret (BADSIG) as a TSIG problem of our configuration', async () => {
    tsigError = 16;
    await expect(provider().addTxt('k.test', '_acme-challenge.k.test', ['x'])).rejects.toThrow(
      /^RFC2136 update of _acme-challenge\.k\.test: TSIG BADSIG with key "acme-key" .*RFC2136_TSIG_SECRET/,
    );
  });
});
