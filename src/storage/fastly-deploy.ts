/**
 * The Fastly step of a domain's journey (contract section 5), on top of FastlyTls:
 * upload the key, then create the domain's bulk certificate or replace it in place,
 * then delete the domain's old key that no certificate uses any more.
 * A bulk certificate is never deleted here.
 */
import type { Logger } from '../logger.js';
import { splitFullchain, type BulkCertificate, type FastlyPrivateKey, type FastlyTls } from './fastly.js';

export interface FastlyDeployment {
  action: 'created' | 'replaced';
  certificate: BulkCertificate;
  privateKey: FastlyPrivateKey;
  /** Old keys of this domain that were deleted after the replace. */
  deletedKeyIds: string[];
}

/** The key name the Python AutoTLS used; cleanup relies on it to find the domain's old keys. */
export function privateKeyName(domain: string): string {
  return `${domain} private key`;
}

export async function deployToFastly(
  fastly: FastlyTls,
  input: { domain: string; privateKeyPem: string; fullchainPem: string; configurationId: string; logger?: Logger },
): Promise<FastlyDeployment> {
  const { certPem, intermediatesPem } = splitFullchain(input.fullchainPem);
  const privateKey = await fastly.uploadPrivateKey(input.privateKeyPem, privateKeyName(input.domain));
  const existing = await fastly.findBulkCertificateForDomain(input.domain);
  if (!existing) {
    const certificate = await fastly.createBulkCertificate(certPem, intermediatesPem, input.configurationId);
    return { action: 'created', certificate, privateKey, deletedKeyIds: [] };
  }
  const certificate = await fastly.replaceBulkCertificate(existing.id, certPem, intermediatesPem);
  const deletedKeyIds = await deleteOldKeys(fastly, input.domain, privateKey.id, input.logger);
  return { action: 'replaced', certificate, privateKey, deletedKeyIds };
}

/**
 * Deletes unused keys carrying this domain's key name, except the new one.
 * Only this domain's keys: an unused key of another domain may belong to a run
 * that uploaded it a moment ago and is about to upload its certificate.
 * A failure here is logged, not thrown: the new certificate is already live.
 */
async function deleteOldKeys(fastly: FastlyTls, domain: string, keepId: string, logger: Logger | undefined): Promise<string[]> {
  const deleted: string[] = [];
  try {
    const unused = await fastly.listPrivateKeys({ inUse: false });
    for (const key of unused) {
      if (key.id === keepId || key.name !== privateKeyName(domain)) continue;
      try {
        await fastly.deletePrivateKey(key.id);
        deleted.push(key.id);
      } catch (err) {
        logger?.warn({ domain, keyId: key.id, err: err instanceof Error ? err.message : String(err) }, 'could not delete the old Fastly private key');
      }
    }
  } catch (err) {
    logger?.warn({ domain, err: err instanceof Error ? err.message : String(err) }, 'could not list unused Fastly private keys');
  }
  return deleted;
}
