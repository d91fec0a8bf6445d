import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, DeleteHostedZoneCommand, ListHostedZonesCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { describe, expect, inject, it } from 'vitest';
import type { TestbedInfo } from '../../testbed/context.js';
import { startMoto } from '../../testbed/services.js';

const tb: TestbedInfo = inject('testbed');

function route53(endpoint: string): Route53Client {
  return new Route53Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
}

describe('testbed: moto_server', () => {
  it('the shared moto answers Route53 ListHostedZones and record changes', async () => {
    const r53 = route53(tb.moto.endpoint);
    try {
      const before = await r53.send(new ListHostedZonesCommand({}));
      expect(Array.isArray(before.HostedZones)).toBe(true);

      const created = await r53.send(new CreateHostedZoneCommand({ Name: 'moto-smoke.example.', CallerReference: `smoke-${Date.now()}` }));
      const zoneId = created.HostedZone!.Id!;
      const after = await r53.send(new ListHostedZonesCommand({}));
      expect(after.HostedZones?.map((z) => z.Name)).toContain('moto-smoke.example.');

      const change = (Action: 'UPSERT' | 'DELETE') => new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: { Changes: [{ Action, ResourceRecordSet: { Name: '_acme-challenge.moto-smoke.example.', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"a"' }, { Value: '"b"' }] } }] },
      });
      const upsert = await r53.send(change('UPSERT'));
      expect(upsert.ChangeInfo?.Status).toBe('INSYNC'); // moto: changes are in sync at once
      const sets = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
      expect(sets.ResourceRecordSets?.find((r) => r.Type === 'TXT')?.ResourceRecords).toHaveLength(2);
      await r53.send(change('DELETE'));
      await r53.send(new DeleteHostedZoneCommand({ Id: zoneId }));
    } finally {
      r53.destroy();
    }
  });

  // reset() wipes ALL state, so it is exercised on a private moto, never on the shared one.
  it('startMoto() standalone: reset() forgets everything, stop() ends it', async () => {
    const moto = await startMoto();
    const r53 = route53(moto.endpoint);
    try {
      await r53.send(new CreateHostedZoneCommand({ Name: 'reset-me.example.', CallerReference: 'reset-me' }));
      expect((await r53.send(new ListHostedZonesCommand({}))).HostedZones).toHaveLength(1);
      await moto.reset();
      expect((await r53.send(new ListHostedZonesCommand({}))).HostedZones).toHaveLength(0);
    } finally {
      r53.destroy();
      await moto.stop();
    }
    expect(() => process.kill(moto.pid, 0)).toThrow();
  });
});
