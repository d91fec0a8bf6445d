// Someone's existing certificate at Fastly, uploaded the way an operator would:
// through Fastly's API (POST /tls/private_keys, then POST /tls/bulk/certificates
// with the TLS configuration), against the testbed's Fastly fake.
import { expect } from 'vitest';
import { JSON_API } from '../testbed/fastly-fake.js';
import type { TestPki } from '../unit/storage/pki.js';
import { FASTLY_TOKEN, TLS_CONFIGURATION_ID } from './harness.js';

/** A certificate for `names` from `pki`, uploaded to the Fastly fake at `fastlyUrl`; its certificate and key ids. */
export async function uploadCertificateToFastly(fastlyUrl: string, pki: TestPki, names: string[]): Promise<{ certId: string; keyId: string }> {
  const leaf = pki.issue(names);
  const post = async (path: string, body: unknown): Promise<string> => {
    const res = await fetch(`${fastlyUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': JSON_API, Accept: JSON_API, 'Fastly-Key': FASTLY_TOKEN },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { data: { id: string } }).data.id;
  };
  const keyId = await post('/tls/private_keys', { data: { type: 'tls_private_key', attributes: { key: leaf.keyPem, name: 'shared private key' } } });
  const certId = await post('/tls/bulk/certificates', {
    data: {
      type: 'tls_bulk_certificate',
      attributes: { cert_blob: leaf.certPem, intermediates_blob: leaf.intermediatesPem, allow_untrusted_root: true },
      relationships: { tls_configurations: { data: [{ type: 'tls_configuration', id: TLS_CONFIGURATION_ID }] } },
    },
  });
  return { certId, keyId };
}
