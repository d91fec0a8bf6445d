/**
 * Revocation (RFC 8555 §7.6): a signed POST of `{ certificate, reason }` to the
 * directory's `revokeCert`, authorised with the account key (`kid`), which
 * Let's Encrypt accepts for every subscriber reason from the account that
 * issued the certificate (https://letsencrypt.org/docs/revoking/). acme-client's
 * own `revokeCertificate` sends the same body (api.js `revokeCert`) but turns a
 * problem into a plain Error; this keeps the problem type, so that a
 * certificate already revoked (`alreadyRevoked`, RFC 8555 §6.7) counts as done.
 *
 * Retries: the transport's bounded retries of transient failures apply. A
 * resend is harmless here: revoking twice only answers `alreadyRevoked`.
 */
import { X509Certificate } from 'node:crypto';
import type { AcmeApiInternals, RawResponse } from './acme-internals.js';
import { isProblem, problemOf } from './acme-schemas.js';
import type { AcmeError } from './errors.js';
import { REVOCATION_REASONS, type RevocationReason } from './issuer.js';
import { splitFullchain } from './x509.js';

/** The base64url DER of the leaf of `pem` (a certificate or a fullchain). */
export function leafDerBase64Url(pem: string): string {
  return new X509Certificate(splitFullchain(pem).leafPem).raw.toString('base64url');
}

export async function revokeWithAccountKey(
  api: AcmeApiInternals,
  certificatePem: string,
  reason: RevocationReason,
  problemError: (step: string, response: RawResponse) => AcmeError,
): Promise<{ alreadyRevoked: boolean }> {
  const payload = { certificate: leafDerBase64Url(certificatePem), reason: REVOCATION_REASONS[reason] };
  const response = await api.apiResourceRequest('revokeCert', payload, []);
  if (response.status === 200) return { alreadyRevoked: false };
  if (isProblem(problemOf(response), 'alreadyRevoked')) return { alreadyRevoked: true };
  throw problemError('revokeCert', response);
}
