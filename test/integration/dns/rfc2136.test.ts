// The RFC2136 provider against the testbed's BIND 9 (zone z51.test), signed with its TSIG key.
import { describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { nsupdate, queryTxt } from '../../testbed/dns.js';
import { Rfc2136Provider } from '../../../src/dns/rfc2136.js';
import { DnsProviderError } from '../../../src/dns/provider.js';
import { describeDnsProviderContract } from '../../dns/contract.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const ZONE = 'z51.test';

const provider = (overrides: { tsigSecret?: string; tsigKeyName?: string; nameserver?: string } = {}): Rfc2136Provider =>
  new Rfc2136Provider(
    {
      nameserver: overrides.nameserver ?? `${tb.dns.host}:${tb.dns.port}`,
      tsigKeyName: overrides.tsigKeyName ?? tb.dns.tsigKeyName,
      tsigSecret: overrides.tsigSecret ?? tb.dns.tsigSecret,
      tsigAlgorithm: `${tb.dns.tsigAlgorithm}.`, // as lego writes it
      timeoutMs: 2_000,
    },
    logger,
  );

describeDnsProviderContract('rfc2136 (BIND 9)', async () => ({
  provider: provider(),
  zone: ZONE,
  fqdnBase: ZONE,
  cleanup: async () => undefined,
  addForeignTxt: (fqdn, value) => nsupdate(tb.dns, [`update add ${fqdn}. 300 TXT "${value}"`], ZONE),
}));

describe('RFC2136 provider against BIND', () => {
  it('writes what BIND then serves: one RRset, both values', async () => {
    const fqdn = `_acme-challenge.served.${ZONE}`;
    await provider().addTxt(ZONE, fqdn, ['apex-digest', 'wildcard-digest']);
    expect((await queryTxt(tb.dns.host, tb.dns.port, fqdn)).sort()).toEqual(['apex-digest', 'wildcard-digest']);
    await provider().removeTxt(ZONE, fqdn, ['apex-digest', 'wildcard-digest']);
    expect(await queryTxt(tb.dns.host, tb.dns.port, fqdn)).toEqual([]);
  });

  it('reports a wrong TSIG secret clearly, without the secret, and without retrying', async () => {
    const wrong = Buffer.alloc(32, 1).toString('base64');
    const started = performance.now();
    const error = await provider({ tsigSecret: wrong })
      .addTxt(ZONE, `_acme-challenge.badsig.${ZONE}`, ['x'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsProviderError);
    expect((error as Error).message).toMatch(/TSIG BADSIG.*RFC2136_TSIG_SECRET/);
    expect((error as Error).message).not.toContain(wrong);
    expect((error as Error).message).not.toContain(tb.dns.tsigSecret);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('reports an unknown key name', async () => {
    await expect(provider({ tsigKeyName: 'no-such-key' }).removeTxt(ZONE, `_acme-challenge.badkey.${ZONE}`, ['x'])).rejects.toThrow(/TSIG BADKEY/);
  });

  it('refuses a name outside the zone before sending anything', async () => {
    await expect(provider().addTxt(ZONE, '_acme-challenge.z52.test', ['x'])).rejects.toThrow(/not inside zone z51\.test/);
  });

  it('answers NOTAUTH/REFUSED for a zone BIND does not serve, without retrying', async () => {
    await expect(provider().addTxt('not-served.test', '_acme-challenge.not-served.test', ['x'])).rejects.toThrow(
      /answered (NOTAUTH|REFUSED)/,
    );
  });

  it('gives up on an unreachable nameserver after bounded retries', async () => {
    const started = performance.now();
    await expect(provider({ nameserver: '127.0.0.1:9' }).addTxt(ZONE, `_acme-challenge.down.${ZONE}`, ['x'])).rejects.toThrow(
      /RFC2136 update of .* failed: DNS over TCP to 127\.0\.0\.1:9/,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
