// Self-check of the shared contract suite against the in-memory provider.
import { describeDnsProviderContract } from '../../dns/contract.js';
import { MemoryDnsProvider } from '../../dns/memory.js';

describeDnsProviderContract('memory', async () => ({
  provider: new MemoryDnsProvider(['z.test']),
  zone: 'z.test',
  fqdnBase: 'z.test',
  cleanup: async () => undefined,
}));
