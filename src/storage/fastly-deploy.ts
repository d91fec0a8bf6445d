/**
 * The Fastly step of a domain's journey (contract section 5), on top of FastlyTls:
 * upload the key, then replace the domain's own bulk certificate in place or
 * create one, then delete the domain's old key that no certificate uses any more.
 *
 * Only a certificate whose names are all among `<domain>` and `*.<domain>` is
 * replaced in place. Fastly: "Any SAN entries that are missing in the replacement
 * certificate will become disabled"
 * (https://www.fastly.com/documentation/reference/api/tls/platform/#update-bulk-tls-cert),
 * so a certificate shared with other names is left alone and the domain gets a
 * certificate of its own; as the most recent upload it then serves the domain
 * ("If an identical hostname appears on more than one certificate, then the most
 * recently uploaded certificate will be used", same page, Limitations & conditions).
 * A bulk certificate is never deleted here.
 */
import type { Logger } from '../logger.js';
import { splitFullchain } from '../certificates/x509.js';
import { FastlyError, type BulkCertificate, type FastlyPrivateKey, type FastlyTls } from './fastly.js';

export interface FastlyDeployment {
  /** `created`: a new certificate of the domain's own (the first one, or beside a shared one). */
  action: 'created' | 'replaced';
  certificate: BulkCertificate;
  privateKey: FastlyPrivateKey;
  /** Old keys of this domain that were deleted after the replace. */
  deletedKeyIds: string[];
  /** Certificates shared with other names that also cover the domain; left as they are. */
  sharedCertificateIds: string[];
}

/** The key name the Python AutoTLS used; cleanup relies on it to find the domain's old keys. */
export function privateKeyName(domain: string): string {
  return `${domain} private key`;
}

/** Whether a certificate names only `domain` and `*.domain`, so replacing it disables nothing else. */
export function isOwnCertificate(certificate: BulkCertificate, domain: string): boolean {
  const d = domain.toLowerCase();
  return certificate.domains.length > 0 && certificate.domains.every((n) => n === d || n === `*.${d}`);
}

export async function deployToFastly(
  fastly: FastlyTls,
  input: { domain: string; privateKeyPem: string; fullchainPem: string; configurationId: string; logger?: Logger },
): Promise<FastlyDeployment> {
  const { leafPem, intermediatesPem: intermediates } = splitFullchain(input.fullchainPem);
  const intermediatesPem = intermediates.join('');
  const privateKey = await fastly.uploadPrivateKey(input.privateKeyPem, privateKeyName(input.domain));
  const covering = await fastly.listBulkCertificatesForDomain(input.domain);
  const own = covering
    .filter((c) => isOwnCertificate(c, input.domain))
    .sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime() || b.createdAt.getTime() - a.createdAt.getTime())[0];
  const sharedCertificateIds = covering.filter((c) => !isOwnCertificate(c, input.domain)).map((c) => c.id);
  if (!own) {
    if (sharedCertificateIds.length > 0) {
      input.logger?.info({ domain: input.domain, sharedCertificateIds }, 'the domain is on a Fastly certificate shared with other names; creating one of its own');
    }
    const certificate = await createOnce(fastly, leafPem, intermediatesPem, input.configurationId, input.logger);
    return { action: 'created', certificate, privateKey, deletedKeyIds: [], sharedCertificateIds };
  }
  const certificate = await fastly.replaceBulkCertificate(own.id, leafPem, intermediatesPem);
  const deletedKeyIds = await deleteOldKeys(fastly, input.domain, privateKey.id, input.logger);
  return { action: 'replaced', certificate, privateKey, deletedKeyIds, sharedCertificateIds };
}

/**
 * Creating a bulk certificate is not idempotent. After an answer that never came
 * (timeout or network error after sending), Fastly is asked whether the
 * certificate exists; it is used if so, and otherwise the error stands (the
 * certificate is stored, the next run uploads it): never a blind second POST.
 */
async function createOnce(
  fastly: FastlyTls,
  certPem: string,
  intermediatesPem: string,
  configurationId: string,
  logger: Logger | undefined,
): Promise<BulkCertificate> {
  try {
    return await fastly.createBulkCertificate(certPem, intermediatesPem, configurationId);
  } catch (error) {
    if (!(error instanceof FastlyError) || error.status !== undefined) throw error;
    let landed: BulkCertificate | undefined;
    try {
      landed = await fastly.findUploadedCertificate(certPem);
    } catch (lookup) {
      logger?.warn({ err: lookup instanceof Error ? lookup.message : String(lookup) }, 'could not find out whether the Fastly certificate was created');
      throw error;
    }
    if (!landed) {
      throw new FastlyError(`${error.message}; Fastly lists no such certificate, so it was not created`, { cause: error });
    }
    logger?.info({ certificateId: landed.id }, 'the Fastly certificate upload timed out but the certificate was created; using it');
    return landed;
  }
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
