// The Route53 provider against moto_server (hosted zone z52.test).
import { inject } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { Route53Provider } from '../../../src/dns/route53.js';
import { describeDnsProviderContract } from '../../dns/contract.js';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { ensureHostedZone, motoRoute53 } from '../../dns/moto.js';

const tb = inject('testbed');

describeDnsProviderContract('route53 (moto)', async () => {
  const zoneId = await ensureHostedZone(tb.moto.endpoint, 'z52.test');
  return {
    provider: new Route53Provider(
      // moto has no rate limit; the limiter itself is covered by test/unit/dns/route53.test.ts.
      { region: 'us-east-1', endpoint: tb.moto.endpoint, accessKeyId: 'testing', secretAccessKey: 'testing', maxWaitSeconds: 10, requestsPerSecond: 50 },
      pino({ level: 'silent' }),
    ),
    zone: zoneId,
    fqdnBase: 'z52.test',
    cleanup: async () => undefined,
    // Another client's record set, written with its own TTL through the Route 53 API.
    addForeignTxt: async (fqdn, value) => {
      const client = motoRoute53(tb.moto.endpoint);
      try {
        await client.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            ChangeBatch: { Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: fqdn, Type: 'TXT', TTL: 300, ResourceRecords: [{ Value: `"${value}"` }] } }] },
          }),
        );
      } finally {
        client.destroy();
      }
    },
  };
});
