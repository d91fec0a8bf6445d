import { describe, expect, it } from 'vitest';
import { DnsProviderError } from '../../src/dns/provider.js';
import { TestClock } from './clock.js';
import { MemoryDns } from './memory-dns.js';

describe('MemoryDns', () => {
  it('keeps several values per name; the publisher removes only its own', async () => {
    const dns = new MemoryDns({ clock: new TestClock() });
    dns.addForeignTxt('_acme-challenge.a.test', 'foreign');
    const publisher = dns.publisher();
    const published = await publisher.publish('a.test', 'Z', ['v1', 'v2']);
    expect(dns.resolveTxt('_acme-challenge.a.test')).toEqual(['foreign', 'v1', 'v2']);
    await publisher.cleanup(published);
    expect(dns.txtAt('_acme-challenge.a.test')).toEqual(['foreign']);
  });

  it('follows a CNAME, and clearStale leaves the values of other domains sharing the target', async () => {
    const dns = new MemoryDns({ clock: new TestClock() });
    dns.setCname('_acme-challenge.a.test', 'shared.validation.test');
    dns.setCname('_acme-challenge.b.test', 'shared.validation.test');
    const publisher = dns.publisher();
    const a = await publisher.publish('a.test', 'Z', ['a-value']);
    expect(a.fqdn).toBe('shared.validation.test');
    await publisher.publish('b.test', 'Z', ['b-value']);
    await publisher.clearStale('a.test', 'Z');
    expect(dns.resolveTxt('_acme-challenge.b.test')).toEqual(['b-value']);
  });

  it('fails publishes by percentage, for the next N calls, and during outages', async () => {
    const clock = new TestClock();
    const dns = new MemoryDns({ clock });
    const publisher = dns.publisher();
    dns.faults.failNext = 1;
    await expect(publisher.publish('a.test', 'Z', ['v'])).rejects.toThrow(DnsProviderError);
    await publisher.publish('a.test', 'Z', ['v']);
    dns.faults.outages.push({ start: clock.now(), end: new Date(clock.now().getTime() + 60_000) });
    await expect(publisher.publish('a.test', 'Z', ['v'])).rejects.toThrow(/outage/);
    clock.advanceMinutes(1);
    dns.faults.failurePercent = 100;
    await expect(publisher.publish('a.test', 'Z', ['v'])).rejects.toThrow(/injected/);
    expect(dns.failedPublishes).toBe(3);
  });
});
