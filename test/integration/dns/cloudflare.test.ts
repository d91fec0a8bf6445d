// The Cloudflare provider against the v4 fake (test/testbed/cloudflare-fake.ts), zone z54.test.
import { pino } from 'pino';
import { CloudflareProvider } from '../../../src/dns/cloudflare.js';
import { describeDnsProviderContract } from '../../dns/contract.js';
import { startCloudflareFake } from '../../testbed/cloudflare-fake.js';

const TOKEN = 'integration-token-3f9a2c';
const ZONE_ID = '5b1c7e2f0d9a4e8c9b3a6d2e1f0c7b8a';

describeDnsProviderContract('cloudflare (v4 fake)', async () => {
  const fake = await startCloudflareFake({ token: TOKEN, zones: [{ id: ZONE_ID, name: 'z54.test' }, { id: 'other-zone', name: 'z59.test' }] });
  return {
    // A small page size so the contract also exercises pagination.
    provider: new CloudflareProvider({ apiToken: TOKEN, apiUrl: fake.url, perPage: 1, timeoutMs: 5_000 }, pino({ level: 'silent' })),
    zone: ZONE_ID,
    fqdnBase: 'z54.test',
    cleanup: () => fake.stop(),
    // Another client's record, posted to the API as Cloudflare's docs ask (quoted content).
    addForeignTxt: async (fqdn, value) => {
      const response = await fetch(`${fake.url}/zones/${ZONE_ID}/dns_records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'TXT', name: fqdn, content: `"${value}"`, ttl: 300 }),
      });
      if (!response.ok) throw new Error(`foreign POST answered ${response.status}`);
    },
  };
});
