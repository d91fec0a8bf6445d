// An in-memory DnsProvider for unit tests (and a self-check of the contract suite).
import type { DnsProvider } from '../../src/dns/provider.js';

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export class MemoryDnsProvider implements DnsProvider {
  readonly name = 'memory';
  /** zone -> fqdn -> values */
  readonly zones = new Map<string, Map<string, string[]>>();
  readonly calls: string[] = [];

  constructor(zoneNames: string[]) {
    for (const z of zoneNames) this.zones.set(norm(z), new Map());
  }

  private zone(zone: string): Map<string, string[]> {
    const z = this.zones.get(norm(zone));
    if (!z) throw new Error(`memory provider: unknown zone ${zone}`);
    return z;
  }

  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    this.calls.push(`add ${norm(fqdn)} ${values.join(',')}`);
    const current = this.zone(zone).get(norm(fqdn)) ?? [];
    this.zone(zone).set(norm(fqdn), [...new Set([...current, ...values])]);
  }

  async removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    this.calls.push(`remove ${norm(fqdn)} ${values.join(',')}`);
    const remainder = (this.zone(zone).get(norm(fqdn)) ?? []).filter((v) => !values.includes(v));
    if (remainder.length > 0) this.zone(zone).set(norm(fqdn), remainder);
    else this.zone(zone).delete(norm(fqdn));
  }

  async listTxt(zone: string, fqdn: string): Promise<string[]> {
    return [...(this.zone(zone).get(norm(fqdn)) ?? [])];
  }

  async findZone(fqdn: string): Promise<string | undefined> {
    const labels = norm(fqdn).split('.');
    for (let i = 0; i < labels.length; i++) {
      const candidate = labels.slice(i).join('.');
      if (this.zones.has(candidate)) return candidate;
    }
    return undefined;
  }
}
