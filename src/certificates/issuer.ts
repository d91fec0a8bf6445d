/**
 * What the rest of AutoTLS needs from a certificate authority: issue a
 * certificate, resume an order a crashed run left, and read ARI renewal
 * windows. `AcmeIssuer` (acme.ts) is the real one; tests and the lifecycle
 * simulator use in-memory ones behind the same interface.
 */
import type { CertificateKeyType } from '../config/settings.js';
import type { ChallengePublisher } from '../dns/challenge.js';
import type { KeyAndCsr } from './keys.js';

export interface IssueRequest {
  domain: string;
  /** The DNS provider zone handle (`domains.zone_id`). */
  zone: string;
  keyType: CertificateKeyType;
  /** ACME profile; sent only when the directory advertises profiles. */
  profile?: string;
  /** ARI CertID of the certificate this order replaces (RFC 9773 §5). */
  replaces?: string;
  /** The certificate key and CSR to use; a new pair is generated when absent. */
  keys?: KeyAndCsr;
}

export interface IssueHooks {
  publisher: ChallengePublisher;
  /** Called once the order exists, before any challenge work (to persist the order URL). */
  onOrderCreated?: (order: { orderUrl: string; replaces?: string }) => Promise<void> | void;
  /** Cancels the issuance: waits, and every CA request in flight (AcmeIssuer passes it into each request). */
  signal?: AbortSignal;
}

export interface IssuedCertificate {
  privateKeyPem: string;
  csrPem: string;
  /** Leaf first, then the intermediates, as the CA sent them. */
  fullchainPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** ARI CertID of the new certificate; undefined when it has no AKI. */
  certId: string | undefined;
  orderUrl: string;
  /** True when the order was accepted with `replaces` (Let's Encrypt then exempts it from rate limits). */
  replacesAccepted: boolean;
}

/**
 * The RFC 5280 CRLReason codes Let's Encrypt accepts from a subscriber
 * (https://letsencrypt.org/docs/revoking/, "Specifying a reason code": any other
 * code is rejected; Boulder's revocation/reasons.go `UserAllowedReasons`). By
 * name, as operators write them.
 */
export const REVOCATION_REASONS = { unspecified: 0, keyCompromise: 1, superseded: 4, cessationOfOperation: 5 } as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface RenewalInfo {
  suggestedWindow: { start: Date; end: Date };
  explanationUrl?: string;
  retryAfterSeconds?: number;
}

/**
 * A CA account. Implementations throw the typed errors of errors.ts
 * (AcmeRateLimitedError, AcmeOrderGoneError, AcmeValidationError, ...), which
 * is how callers tell a rate limit from a failed validation.
 */
export interface CertificateIssuer {
  issue(req: IssueRequest, hooks: IssueHooks): Promise<IssuedCertificate>;
  /** Finishes an order created earlier; throws AcmeOrderGoneError when it can no longer give a certificate. */
  resume(orderUrl: string, req: IssueRequest & { keys: KeyAndCsr }, hooks: IssueHooks): Promise<IssuedCertificate>;
  /**
   * The suggested renewal window (RFC 9773) of the certificate with this ARI
   * CertID (§4.1; `ariCertId` in x509.ts, kept in the domain state), or undefined
   * when the CA offers no ARI. By CertID, so that checking a fleet reads no
   * secret. `signal` cancels the request.
   */
  renewalInfo(certId: string, signal?: AbortSignal): Promise<RenewalInfo | undefined>;
  /**
   * Revokes a certificate this account issued (RFC 8555 §7.6), authorised with
   * the account key. `certificatePem` is the leaf or the whole fullchain (the
   * leaf is sent). A certificate the CA already revoked counts as revoked:
   * resolves with `alreadyRevoked: true`.
   */
  revoke(certificatePem: string, reason: RevocationReason, signal?: AbortSignal): Promise<{ alreadyRevoked: boolean }>;
}
