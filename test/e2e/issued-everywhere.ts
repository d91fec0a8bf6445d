// One /process that must issue every domain, and what each stored certificate
// must be: the apex and the wildcard, chained to the Pebble that issued it.
// Shared by the DNS-provider pipelines (PowerDNS, Knot).
import { X509Certificate } from 'node:crypto';
import { expect } from 'vitest';
import { fetchPebbleRoot, splitPem } from '../testbed/helpers.js';
import type { PebbleService } from '../testbed/services.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import type { Harness, SharedDeployment } from './harness.js';

export async function processIssuesEveryDomain(h: Harness, shared: SharedDeployment, pebble: PebbleService, domains: string[]): Promise<void> {
  const { status, doc } = await h.run('/process');
  expect(status, JSON.stringify(doc.results)).toBe(200);
  expect(doc.status).toBe('succeeded');
  expect(doc.results.map((r) => r.domain).sort()).toEqual([...domains].sort());
  expect(doc.results.every((r) => r.outcome === 'issued'), JSON.stringify(doc.results)).toBe(true);

  const root = new X509Certificate(await fetchPebbleRoot(pebble));
  const secrets = new FileSecretsStore(shared.secretsDir);
  for (const domain of domains) {
    const certs = splitPem((await secrets.get(`pem-secret/${domain}/fullchain`)) ?? '').map((p) => new X509Certificate(p));
    const leaf = certs[0] as X509Certificate;
    expect(leaf.subjectAltName).toContain(`DNS:${domain}`);
    expect(leaf.subjectAltName).toContain(`DNS:*.${domain}`);
    const top = certs[certs.length - 1] as X509Certificate;
    expect(top.checkIssued(root) && top.verify(root.publicKey), domain).toBe(true);
  }
}
