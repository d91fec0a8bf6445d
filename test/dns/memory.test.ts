// Self-check of the shared contract suite against the in-memory provider.
import { describeDnsProviderContract } from './contract.js';
import { MemoryDnsProvider } from './memory.js';

describeDnsProviderContract('memory', async () => {
  const provider = new MemoryDnsProvider(['z.test']);
  return {
    provider,
    zone: 'z.test',
    fqdnBase: 'z.test',
    cleanup: async () => undefined,
    addForeignTxt: async (fqdn, value) => {
      const zone = provider.zones.get('z.test');
      zone?.set(fqdn, [...(zone.get(fqdn) ?? []), value]);
    },
  };
});
