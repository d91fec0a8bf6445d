import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Dns01Publisher } from '../../../src/dns/dns01.js';
import { DnsLookup } from '../../../src/dns/lookup.js';
import { DnsPropagationError, PropagationChecker } from '../../../src/dns/propagation.js';
import { MemoryDnsProvider } from '../../dns/memory.js';
import { MemoryZones, startDnsServer, type RunningDnsServer } from '../../dns/dns-server.js';

const logger = pino({ level: 'silent' });

/** A memory provider whose writes the in-process DNS server serves at once. */
class ServedMemoryProvider extends MemoryDnsProvider {
  constructor(
    zoneNames: string[],
    private readonly served: MemoryZones,
    private readonly mangle: (v: string) => string = (v) => v,
  ) {
    super(zoneNames);
  }
  override async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    await super.addTxt(zone, fqdn, values);
    this.served.setTxt(fqdn, (await this.listTxt(zone, fqdn)).map(this.mangle));
  }
  override async removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    await super.removeTxt(zone, fqdn, values);
    this.served.setTxt(fqdn, (await this.listTxt(zone, fqdn)).map(this.mangle));
  }
}

describe('Dns01Publisher', () => {
  const zones = new MemoryZones(['example.test', 'validation.test', 'elsewhere.test']);
  let server: RunningDnsServer;
  let provider: ServedMemoryProvider;

  const publisher = (p = provider, timeoutMs = 2_000): Dns01Publisher => {
    const lookup = new DnsLookup({ resolvers: [{ host: server.host, port: server.port }] }, logger);
    return new Dns01Publisher(p, lookup, new PropagationChecker({ enabled: true, timeoutMs }, lookup, logger), logger);
  };

  beforeAll(async () => {
    server = await startDnsServer({ source: zones.source });
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    provider = new ServedMemoryProvider(['example.test', 'validation.test'], zones);
    for (const name of ['_acme-challenge.plain.example.test', '_acme-challenge.alias.example.test', 'hop1.example.test', 'hop2.validation.test']) {
      zones.remove(name);
    }
  });

  it('publishes both values in one record set at _acme-challenge.<domain> and waits until served', async () => {
    const published = await publisher().publish('plain.example.test', 'example.test', ['apex', 'wildcard']);
    expect(published).toEqual({ fqdn: '_acme-challenge.plain.example.test', zone: 'example.test', values: ['apex', 'wildcard'] });
    expect(provider.calls).toEqual(['add _acme-challenge.plain.example.test apex,wildcard']);
    await publisher().cleanup(published);
    expect(await provider.listTxt('example.test', published.fqdn)).toEqual([]);
  });

  it('follows a CNAME chain and writes at its end, in the zone the provider finds', async () => {
    zones.setCname('_acme-challenge.alias.example.test', 'hop1.example.test');
    zones.setCname('hop1.example.test', 'hop2.validation.test');
    const p = publisher();
    await p.clearStale('alias.example.test', 'example.test');
    expect(provider.calls).toEqual([]); // nothing of ours was left there

    const published = await p.publish('alias.example.test', 'example.test', ['v']);
    expect(published).toMatchObject({ fqdn: 'hop2.validation.test', zone: 'validation.test' });
    expect(await provider.listTxt('validation.test', 'hop2.validation.test')).toEqual(['v']);
    await p.cleanup(published);
    expect(await provider.listTxt('validation.test', 'hop2.validation.test')).toEqual([]);
  });

  it('refuses a CNAME into a zone the provider does not manage', async () => {
    zones.setCname('_acme-challenge.alias.example.test', 'x.elsewhere.test');
    await expect(publisher().publish('alias.example.test', 'example.test', ['v'])).rejects.toThrow(
      /_acme-challenge\.alias\.example\.test is a CNAME to x\.elsewhere\.test, but the memory DNS provider manages no zone/,
    );
    expect(provider.calls).toEqual([]);
  });

  it('detects CNAME loops and chains longer than 10 hops', async () => {
    zones.setCname('_acme-challenge.alias.example.test', 'hop1.example.test');
    zones.setCname('hop1.example.test', '_acme-challenge.alias.example.test');
    await expect(publisher().publish('alias.example.test', 'example.test', ['v'])).rejects.toThrow(/CNAME loop/);
    zones.remove('hop1.example.test');

    const names = Array.from({ length: 12 }, (_, i) => `chain${i}.example.test`);
    zones.setCname('_acme-challenge.alias.example.test', names[0] ?? '');
    names.slice(0, -1).forEach((n, i) => zones.setCname(n, names[i + 1] ?? ''));
    await expect(publisher().publish('alias.example.test', 'example.test', ['v'])).rejects.toThrow(/longer than 10 hops/);
    names.forEach((n) => zones.remove(n));
  });

  it('removes what it wrote when the values never become visible', async () => {
    const wrong = new ServedMemoryProvider(['example.test'], zones, (v) => `${v}-wrong`);
    const error = await publisher(wrong, 300)
      .publish('plain.example.test', 'example.test', ['right'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsPropagationError);
    expect((error as Error).message).toMatch(/_acme-challenge\.plain\.example\.test.*missing "right"/);
    expect(wrong.calls).toEqual(['add _acme-challenge.plain.example.test right', 'remove _acme-challenge.plain.example.test right']);
  });
});
