/**
 * What AutoTLS uses of Fastly Platform TLS: the records it reads, the calls it
 * makes (implemented over the official client in ./fastly.ts, in memory in
 * test/fakes/memory-fastly.ts) and the error they throw.
 */
import type { TlsBulkCertificateResponseData, TlsConfigurationResponseData, TlsPrivateKeyResponseData } from './fastly-client.js';

export interface BulkCertificate {
  id: string;
  notAfter: Date;
  notBefore: Date;
  createdAt: Date;
  domains: string[];
  configurationIds: string[];
}

export interface FastlyPrivateKey {
  id: string;
  name: string;
  publicKeySha1: string;
  /** Known only when the list was filtered by use. */
  inUse?: boolean;
}

/** A TLS configuration (FASTLY_TLS_CONFIGURATION_ID names the one bulk certificates join). */
export interface TlsConfiguration {
  id: string;
  name: string;
  /** Whether the configuration accepts bulk (Platform TLS) certificates. */
  bulk: boolean;
  default: boolean;
}

export interface FastlyTls {
  /** A key that is already uploaded returns the existing key's record instead of failing. */
  uploadPrivateKey(pem: string, name: string): Promise<FastlyPrivateKey>;
  /**
   * The domain's own bulk certificate: one whose names are all among `domain` and
   * `*.domain` (the newest, if several). A certificate shared with other names is
   * never returned: replacing it would disable those names at Fastly.
   */
  findBulkCertificateForDomain(domain: string): Promise<BulkCertificate | undefined>;
  /** Every bulk certificate whose SAN list holds `domain`, shared ones included. */
  listBulkCertificatesForDomain(domain: string): Promise<BulkCertificate[]>;
  /**
   * The bulk certificate that carries this leaf (same names and validity), if one
   * was created: how an upload that timed out after sending is settled.
   */
  findUploadedCertificate(certPem: string): Promise<BulkCertificate | undefined>;
  createBulkCertificate(certPem: string, intermediatesPem: string, configurationId: string): Promise<BulkCertificate>;
  replaceBulkCertificate(id: string, certPem: string, intermediatesPem: string): Promise<BulkCertificate>;
  /** All pages. */
  listBulkCertificates(): Promise<BulkCertificate[]>;
  /** All pages; `inUse: false` asks Fastly for keys no certificate uses. */
  listPrivateKeys(filter?: { inUse?: boolean }): Promise<FastlyPrivateKey[]>;
  /**
   * GET /tls/configurations/<id>: a read, for `process --dry-run`'s check of the
   * token and FASTLY_TLS_CONFIGURATION_ID. Throws FastlyError (401 token, 404 id).
   */
  getTlsConfiguration(id: string): Promise<TlsConfiguration>;
  /** Deleting a key that no longer exists is not an error. */
  deletePrivateKey(id: string): Promise<void>;
  /** Keys no certificate uses: listed, and deleted unless `dryRun`. Returns those keys. */
  deleteUnusedPrivateKeys(options: { dryRun: boolean }): Promise<FastlyPrivateKey[]>;
}

export class FastlyError extends Error {
  status?: number;
  retryAfterSeconds?: number;
  /** Set when the call was held back by the write allowance: when Fastly's window resets. */
  rateLimitResetAt?: Date;
  /** For `deleteUnusedPrivateKeys`: the keys that were deleted before the failure(s). */
  deleted?: FastlyPrivateKey[];

  constructor(message: string, options?: { status?: number; retryAfterSeconds?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FastlyError';
    if (options?.status !== undefined) this.status = options.status;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function requireData<T>(data: T | undefined, operation: string): T {
  if (data === undefined || data === null) throw new FastlyError(`Fastly ${operation}: the answer has no data`);
  return data;
}

export function toPrivateKey(data: TlsPrivateKeyResponseData | undefined): FastlyPrivateKey {
  if (!data?.id) throw new FastlyError('Fastly answered with a private key without an id');
  return {
    id: data.id,
    name: data.attributes?.name ?? '',
    publicKeySha1: data.attributes?.public_key_sha1 ?? '',
  };
}

export function toBulkCertificate(data: TlsBulkCertificateResponseData): BulkCertificate {
  const a = data.attributes;
  if (!data.id || !a?.not_after || !a.not_before) {
    throw new FastlyError('Fastly answered with an incomplete bulk certificate (id, not_after or not_before missing)');
  }
  return {
    id: data.id,
    notAfter: a.not_after,
    notBefore: a.not_before,
    createdAt: a.created_at ?? a.not_before,
    domains: (data.relationships?.tls_domains?.data ?? []).flatMap((d) => (d.id ? [d.id] : [])),
    configurationIds: (data.relationships?.tls_configurations?.data ?? []).flatMap((d) => (d.id ? [d.id] : [])),
  };
}

export function toTlsConfiguration(data: TlsConfigurationResponseData | undefined): TlsConfiguration {
  if (!data?.id) throw new FastlyError('Fastly answered with a TLS configuration without an id');
  return { id: data.id, name: data.attributes?.name ?? '', bulk: data.attributes?.bulk ?? false, default: data.attributes?.default ?? false };
}
