// Route53 helpers for tests against moto_server.
import { CreateHostedZoneCommand, ListHostedZonesByNameCommand, Route53Client } from '@aws-sdk/client-route-53';

export function motoRoute53(endpoint: string): Route53Client {
  return new Route53Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 2 });
}

/** The id (without /hostedzone/) of the public hosted zone `name`, created when missing. */
export async function ensureHostedZone(endpoint: string, name: string): Promise<string> {
  const client = motoRoute53(endpoint);
  try {
    const existing = await client.send(new ListHostedZonesByNameCommand({ DNSName: name, MaxItems: 10 }));
    const found = existing.HostedZones?.find((z) => z.Name === `${name}.` && !z.Config?.PrivateZone);
    const id =
      found?.Id ??
      (await client.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `autotls-test-${name}-${Date.now()}` }))).HostedZone?.Id;
    if (!id) throw new Error(`moto did not return a hosted zone id for ${name}`);
    return id.replace(/^\/hostedzone\//, '');
  } finally {
    client.destroy();
  }
}
