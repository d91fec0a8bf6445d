// The PowerDNS provider against a real PowerDNS Authoritative 4.x (test/testbed/pdns.ts,
// gsqlite3 backend), zone z60.test: the shared contract, then what the server serves.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { queryTxt } from '../../testbed/dns.js';
import { startPdns, type PdnsService } from '../../testbed/pdns.js';
import { PdnsProvider } from '../../../src/dns/pdns.js';
import { DnsProviderError } from '../../../src/dns/provider.js';
import { describeDnsProviderContract } from '../../dns/contract.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const ZONE = 'z60.test';

let server: PdnsService | undefined;
let starting: Promise<PdnsService> | undefined;
/** One PowerDNS for the whole file (the contract's setup and the tests below). */
const pdns = (): Promise<PdnsService> => (starting ??= startPdns({ dir: tb.dir, zones: [ZONE, `deeper.${ZONE}`] }).then((s) => (server = s)));
afterAll(async () => {
  await server?.stop();
});

const provider = (s: PdnsService, overrides: { apiKey?: string; serverName?: string } = {}): PdnsProvider =>
  new PdnsProvider({ apiUrl: s.apiUrl, apiKey: overrides.apiKey ?? s.apiKey, serverName: overrides.serverName, timeoutMs: 5_000 }, logger);

/** Another client's TXT value: read the RRset through the API, write it back with the value added. */
async function addForeignTxt(s: PdnsService, fqdn: string, value: string): Promise<void> {
  const response = await s.api(`/servers/localhost/zones/${ZONE}.?rrset_name=${fqdn}.&rrset_type=TXT`);
  const zone = (await response.json()) as { rrsets: { name: string; type: string; records: { content: string }[] }[] };
  const existing = zone.rrsets.find((r) => r.type === 'TXT' && r.name === `${fqdn}.`)?.records.map((r) => r.content) ?? [];
  await s.replaceTxt(fqdn, ZONE, [...existing, `"${value}"`]);
}

describeDnsProviderContract('pdns (PowerDNS Authoritative, gsqlite3)', async () => {
  const s = await pdns();
  return {
    provider: provider(s),
    zone: ZONE,
    fqdnBase: ZONE,
    cleanup: async () => undefined,
    addForeignTxt: (fqdn, value) => addForeignTxt(s, fqdn, value),
  };
});

describe('PowerDNS provider against PowerDNS', () => {
  let s: PdnsService;
  beforeAll(async () => {
    s = await pdns();
  });

  it('writes what PowerDNS then serves at once: one RRset, both values, gone after removal', async () => {
    const fqdn = `_acme-challenge.served.${ZONE}`;
    // Asked before it exists, so the packet and negative caches hold "nothing here".
    expect(await queryTxt(s.host, s.port, fqdn)).toEqual([]);
    await provider(s).addTxt(ZONE, fqdn, ['apex-digest', 'wildcard-digest']);
    expect((await queryTxt(s.host, s.port, fqdn)).sort()).toEqual(['apex-digest', 'wildcard-digest']);
    await provider(s).removeTxt(ZONE, fqdn, ['apex-digest', 'wildcard-digest']);
    expect(await queryTxt(s.host, s.port, fqdn)).toEqual([]);
  });

  it('accepts the zone name with its trailing dot, and finds the deepest zone', async () => {
    const fqdn = `_acme-challenge.dot.${ZONE}`;
    await provider(s).addTxt(`${ZONE}.`, fqdn, ['dotted']);
    expect(await provider(s).listTxt(ZONE, fqdn)).toEqual(['dotted']);
    await provider(s).removeTxt(`${ZONE}.`, fqdn, ['dotted']);
    expect(await provider(s).findZone(`_acme-challenge.x.deeper.${ZONE}`)).toBe(`deeper.${ZONE}`);
    expect(await provider(s).findZone(`_acme-challenge.x.${ZONE}`)).toBe(ZONE);
  });

  it('keeps a foreign record exactly as written (two strings, disabled flag) and the RRset TTL', async () => {
    const fqdn = `_acme-challenge.keep.${ZONE}`;
    const response = await s.api(`/servers/localhost/zones/${ZONE}.`, {
      method: 'PATCH',
      body: JSON.stringify({
        rrsets: [{ name: `${fqdn}.`, type: 'TXT', ttl: 777, changetype: 'REPLACE', records: [{ content: '"part-one" "part-two"', disabled: false }, { content: '"parked"', disabled: true }] }],
      }),
    });
    expect(response.status).toBe(204);
    await provider(s).addTxt(ZONE, fqdn, ['ours']);
    await provider(s).removeTxt(ZONE, fqdn, ['ours']);
    // The whole zone: with rrset_name, PowerDNS 4.7 leaves disabled records out of the answer.
    const zone = (await (await s.api(`/servers/localhost/zones/${ZONE}.`)).json()) as { rrsets: { name: string; ttl: number; records: { content: string; disabled: boolean }[] }[] };
    const set = zone.rrsets.find((r) => r.name === `${fqdn}.`);
    expect(set?.ttl).toBe(777);
    expect(set?.records.sort((a, b) => a.content.localeCompare(b.content))).toEqual([
      { content: '"parked"', disabled: true },
      { content: '"part-one" "part-two"', disabled: false },
    ]);
    expect(await provider(s).listTxt(ZONE, fqdn)).toEqual(['part-onepart-two']);
    await s.api(`/servers/localhost/zones/${ZONE}.`, { method: 'PATCH', body: JSON.stringify({ rrsets: [{ name: `${fqdn}.`, type: 'TXT', changetype: 'DELETE' }] }) });
  });

  it('names the step and the cause for a wrong key, an unknown zone, an unknown server and a name outside the zone, without the key', async () => {
    const wrongKey = 'not-the-key-5e1f';
    const fqdn = `_acme-challenge.err.${ZONE}`;
    const started = performance.now();
    const denied = await provider(s, { apiKey: wrongKey }).addTxt(ZONE, fqdn, ['x']).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(DnsProviderError);
    expect((denied as Error).message).toMatch(/^PowerDNS: adding TXT values at _acme-challenge\.err\.z60\.test: the API rejected the key \(HTTP 401.*PDNS_API_KEY/);
    expect((denied as Error).message).not.toContain(wrongKey);
    expect((denied as Error).message).not.toContain(s.apiKey);
    expect(performance.now() - started).toBeLessThan(2_000); // not retried

    await expect(provider(s).addTxt('missing.z60.invalid', '_acme-challenge.missing.z60.invalid', ['x'])).rejects.toThrow(/HTTP 404.*zone exists.*PDNS_SERVER_NAME \(now "localhost"\)/);
    await expect(provider(s, { serverName: 'elsewhere' }).listTxt(ZONE, fqdn)).rejects.toThrow(/listing: not found \(HTTP 404.*PDNS_SERVER_NAME \(now "elsewhere"\)/);
    await expect(provider(s).addTxt(ZONE, '_acme-challenge.other.invalid', ['x'])).rejects.toThrow(/the server refused the change \(HTTP 422: .*out of zone/i);
  });
});
