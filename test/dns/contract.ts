// The DnsProvider contract (src/dns/provider.ts), as tests every provider runs
// against its real or emulated backend: RFC2136 against BIND, Route53 against
// moto, Cloudflare against test/testbed/cloudflare-fake.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsProvider } from '../../src/dns/provider.js';

export interface DnsProviderContractSetup {
  provider: DnsProvider;
  /** The provider's handle of the zone the tests write in. */
  zone: string;
  /** A name inside that zone under which the tests create their records, e.g. `z51.test`. */
  fqdnBase: string;
  cleanup: () => Promise<void>;
  /**
   * Writes a TXT value at `fqdn` the way another client would, through the
   * backend's own means (nsupdate, the Route 53 API, the Cloudflare API), not
   * through the provider under test.
   */
  addForeignTxt: (fqdn: string, value: string) => Promise<void>;
}

const sorted = (values: string[]): string[] => [...values].sort();

export function describeDnsProviderContract(name: string, setup: () => Promise<DnsProviderContractSetup>): void {
  describe(`DnsProvider contract: ${name}`, () => {
    let ctx: DnsProviderContractSetup;
    const written = new Set<string>();
    const run = randomBytes(3).toString('hex');
    let counter = 0;
    /** A fresh record name per test, so tests are independent and can run in parallel. */
    const fresh = (label: string): string => {
      const fqdn = `_acme-challenge.${label}-${run}-${++counter}.${ctx.fqdnBase}`;
      written.add(fqdn);
      return fqdn;
    };

    beforeAll(async () => {
      ctx = await setup();
    });

    afterAll(async () => {
      if (!ctx) return;
      try {
        await Promise.all([...written].map(async (fqdn) => ctx.provider.removeTxt(ctx.zone, fqdn, await ctx.provider.listTxt(ctx.zone, fqdn))));
      } finally {
        await ctx.cleanup();
      }
    });

    it('adds a TXT value and lists it', async () => {
      const fqdn = fresh('set');
      await ctx.provider.addTxt(ctx.zone, fqdn, ['first-value']);
      expect(await ctx.provider.listTxt(ctx.zone, fqdn)).toEqual(['first-value']);
    });

    it('lists nothing at a name that has no TXT record', async () => {
      expect(await ctx.provider.listTxt(ctx.zone, fresh('empty'))).toEqual([]);
    });

    it('holds two values in one record set', async () => {
      const fqdn = fresh('two');
      await ctx.provider.addTxt(ctx.zone, fqdn, ['value-apex', 'value-wildcard']);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['value-apex', 'value-wildcard']);
    });

    it('adds beside the values already there, and removes only the values it is given', async () => {
      const fqdn = fresh('replace');
      await ctx.provider.addTxt(ctx.zone, fqdn, ['old-1', 'old-2']);
      await ctx.provider.addTxt(ctx.zone, fqdn, ['new-1']);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['new-1', 'old-1', 'old-2']);
      await ctx.provider.removeTxt(ctx.zone, fqdn, ['old-1', 'old-2']);
      expect(await ctx.provider.listTxt(ctx.zone, fqdn)).toEqual(['new-1']);
      await ctx.provider.addTxt(ctx.zone, fqdn, ['new-1', 'new-2']);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['new-1', 'new-2']);
    });

    it('is idempotent: adding the same values twice leaves one copy of each', async () => {
      const fqdn = fresh('idem');
      await ctx.provider.addTxt(ctx.zone, fqdn, ['same-a', 'same-b']);
      await ctx.provider.addTxt(ctx.zone, fqdn, ['same-b', 'same-a']);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['same-a', 'same-b']);
    });

    it('removes every value it added, leaving no record', async () => {
      const fqdn = fresh('remove');
      await ctx.provider.addTxt(ctx.zone, fqdn, ['gone-1', 'gone-2']);
      await ctx.provider.removeTxt(ctx.zone, fqdn, ['gone-1', 'gone-2']);
      expect(await ctx.provider.listTxt(ctx.zone, fqdn)).toEqual([]);
    });

    it('succeeds when removing values that are not there (twice)', async () => {
      const fqdn = fresh('absent');
      await ctx.provider.removeTxt(ctx.zone, fqdn, ['never-written']);
      await ctx.provider.removeTxt(ctx.zone, fqdn, ['never-written']);
      expect(await ctx.provider.listTxt(ctx.zone, fqdn)).toEqual([]);
    });

    it('leaves a foreign TXT value at the name through add and remove', async () => {
      const fqdn = fresh('foreign');
      await ctx.addForeignTxt(fqdn, 'foreign-client-validation');
      expect(await ctx.provider.listTxt(ctx.zone, fqdn)).toEqual(['foreign-client-validation']);
      await ctx.provider.addTxt(ctx.zone, fqdn, ['ours-apex', 'ours-wildcard']);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['foreign-client-validation', 'ours-apex', 'ours-wildcard']);
      await ctx.provider.removeTxt(ctx.zone, fqdn, ['ours-apex', 'ours-wildcard']);
      expect(await ctx.provider.listTxt(ctx.zone, fqdn)).toEqual(['foreign-client-validation']);
    });

    it('keeps both sets when two writers add at one name at the same time, and removes each one alone', async () => {
      const fqdn = fresh('shared');
      await Promise.all([
        ctx.provider.addTxt(ctx.zone, fqdn, ['first-apex', 'first-wildcard']),
        ctx.provider.addTxt(ctx.zone, fqdn, ['second-apex', 'second-wildcard']),
      ]);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['first-apex', 'first-wildcard', 'second-apex', 'second-wildcard']);
      await Promise.all([
        ctx.provider.removeTxt(ctx.zone, fqdn, ['first-apex', 'first-wildcard']),
        ctx.provider.addTxt(ctx.zone, fqdn, ['third']),
      ]);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(['second-apex', 'second-wildcard', 'third']);
    });

    it('keeps values longer than one 255-byte TXT string intact', async () => {
      const fqdn = fresh('long');
      const long = 'L'.repeat(200) + 'o'.repeat(200) + randomBytes(40).toString('base64url');
      const short = randomBytes(32).toString('base64url'); // the size of a real DNS-01 digest
      await ctx.provider.addTxt(ctx.zone, fqdn, [long, short]);
      expect(sorted(await ctx.provider.listTxt(ctx.zone, fqdn))).toEqual(sorted([long, short]));
    });

    it('handles concurrent sets on different names', async () => {
      const names = Array.from({ length: 6 }, (_, i) => fresh(`conc${i}`));
      await Promise.all(names.map((fqdn, i) => ctx.provider.addTxt(ctx.zone, fqdn, [`conc-${i}-a`, `conc-${i}-b`])));
      const lists = await Promise.all(names.map((fqdn) => ctx.provider.listTxt(ctx.zone, fqdn)));
      lists.forEach((values, i) => expect(sorted(values)).toEqual([`conc-${i}-a`, `conc-${i}-b`]));
      await Promise.all(names.map((fqdn, i) => ctx.provider.removeTxt(ctx.zone, fqdn, [`conc-${i}-a`, `conc-${i}-b`])));
      const after = await Promise.all(names.map((fqdn) => ctx.provider.listTxt(ctx.zone, fqdn)));
      expect(after.every((values) => values.length === 0)).toBe(true);
    });

    it('finds the zone of a name inside it, and no zone for a name outside every zone', async () => {
      expect(await ctx.provider.findZone(`_acme-challenge.deep.sub.${ctx.fqdnBase}`)).toBe(ctx.zone);
      expect(await ctx.provider.findZone(`_acme-challenge.${run}.not-managed.invalid`)).toBeUndefined();
    });
  });
}
