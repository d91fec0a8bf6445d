/**
 * Fastly Platform TLS: private keys and bulk certificates, through the official
 * `fastly` client (see ./fastly-client.ts for how it is configured).
 *
 * Every call has a timeout. 429 (honouring Retry-After up to a cap) and 5xx are
 * retried a bounded number of times; a timeout or a network error is retried
 * only for calls that are safe to repeat (reads, deletes, the in-place replace,
 * and the key upload, whose duplicate answer we resolve). Any other 4xx is final.
 * Errors are thrown as `FastlyError`, with messages free of the token and of PEM
 * private keys.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { scrubSecrets, type Logger } from '../logger.js';
import { splitPemCertificates } from '../certificates/x509.js';
import { parseRetryAfter, sleep } from '../util/retry.js';
import {
  createFastlyClients,
  type FastlyClientRejection,
  type FastlyClients,
  type PaginationLinks,
  type PaginationMeta,
  type TlsBulkCertificateBody,
  type TlsBulkCertificateResponseData,
  type TlsPrivateKeyResponseData,
} from './fastly-client.js';

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

export interface FastlyTls {
  /** A key that is already uploaded returns the existing key's record instead of failing. */
  uploadPrivateKey(pem: string, name: string): Promise<FastlyPrivateKey>;
  /** The bulk certificate whose SAN list holds exactly `domain` (the newest, if several). */
  findBulkCertificateForDomain(domain: string): Promise<BulkCertificate | undefined>;
  createBulkCertificate(certPem: string, intermediatesPem: string, configurationId: string): Promise<BulkCertificate>;
  replaceBulkCertificate(id: string, certPem: string, intermediatesPem: string): Promise<BulkCertificate>;
  /** All pages. */
  listBulkCertificates(): Promise<BulkCertificate[]>;
  /** All pages; `inUse: false` asks Fastly for keys no certificate uses. */
  listPrivateKeys(filter?: { inUse?: boolean }): Promise<FastlyPrivateKey[]>;
  /** Deleting a key that no longer exists is not an error. */
  deletePrivateKey(id: string): Promise<void>;
  /** Keys no certificate uses: listed, and deleted unless `dryRun`. Returns those keys. */
  deleteUnusedPrivateKeys(options: { dryRun: boolean }): Promise<FastlyPrivateKey[]>;
}

export class FastlyError extends Error {
  status?: number;
  retryAfterSeconds?: number;
  /** For `deleteUnusedPrivateKeys`: the keys that were deleted before the failure(s). */
  deleted?: FastlyPrivateKey[];

  constructor(message: string, options?: { status?: number; retryAfterSeconds?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FastlyError';
    if (options?.status !== undefined) this.status = options.status;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export interface FastlyTlsOptions {
  apiToken: string;
  /** FASTLY_API_URL, e.g. https://api.fastly.com */
  apiUrl: string;
  logger: Logger;
  /** Deadline of one HTTP request; default 30 s. */
  timeoutMs?: number;
  /** Retries after the first attempt; default 3. */
  maxRetries?: number;
  /** Send `allow_untrusted_root: true` with certificates (needed for a private CA such as Pebble). */
  allowUntrustedRoot?: boolean;
  /** First backoff delay for 5xx and network errors (doubled per retry, with jitter); default 500 ms. */
  retryBaseDelayMs?: number;
  /** Longest Retry-After we are willing to wait; longer answers end the retries. Default 30 s. */
  maxRetryAfterSeconds?: number;
  /** Page size for listings; default 100. */
  pageSize?: number;
}

const UNTERMINATED_PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*$/;

/**
 * The certificates of a PEM bundle (a fullchain: leaf first, then intermediates),
 * each normalised to `\n` line endings and one trailing newline.
 */
export const splitPemChain = splitPemCertificates;

/** Leaf and intermediates of a fullchain, in the form the bulk certificate API takes. */
export function splitFullchain(fullchain: string): { certPem: string; intermediatesPem: string } {
  const [leaf, ...intermediates] = splitPemCertificates(fullchain);
  if (!leaf) throw new FastlyError('The fullchain holds no PEM certificate');
  return { certPem: leaf, intermediatesPem: intermediates.join('') };
}

/** The fingerprints under which Fastly may list a key's `public_key_sha1` (SHA-1 of the SPKI DER first). */
export function publicKeyFingerprints(privateKeyPem: string): string[] {
  const publicKey = createPublicKey(createPrivateKey(privateKeyPem));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const out = [createHash('sha1').update(spki).digest('hex')];
  if (publicKey.asymmetricKeyType === 'rsa') {
    out.push(createHash('sha1').update(publicKey.export({ type: 'pkcs1', format: 'der' })).digest('hex'));
  }
  return out;
}

type Idempotency = 'safe' | 'unsafe';

class FastlyTlsClient implements FastlyTls {
  private readonly clients: FastlyClients;
  private readonly logger: Logger;
  private readonly maxRetries: number;
  private readonly allowUntrustedRoot: boolean;
  private readonly retryBaseDelayMs: number;
  private readonly maxRetryAfterSeconds: number;
  private readonly pageSize: number;
  private readonly secrets: string[];

  constructor(options: FastlyTlsOptions) {
    if (!options.apiToken) throw new FastlyError('A Fastly API token is required');
    this.clients = createFastlyClients({
      apiToken: options.apiToken,
      apiUrl: options.apiUrl,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
    this.logger = options.logger.child({ component: 'fastly' });
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.allowUntrustedRoot = options.allowUntrustedRoot ?? false;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? 30;
    this.pageSize = options.pageSize ?? 100;
    this.secrets = [options.apiToken];
  }

  async uploadPrivateKey(pem: string, name: string): Promise<FastlyPrivateKey> {
    try {
      const res = await this.call('create private key', 'safe', () =>
        this.clients.privateKeys.createTlsKey({ tls_private_key: { data: { type: 'tls_private_key', attributes: { key: pem, name } } } }),
      );
      return toPrivateKey(res.data);
    } catch (err) {
      if (!(err instanceof FastlyError) || !isDuplicateKey(err)) throw err;
      const existing = await this.findUploadedKey(pem);
      if (!existing) {
        throw new FastlyError('Fastly reports the private key as already uploaded, but no listed key matches its public key', {
          status: err.status,
        });
      }
      this.logger.info({ keyId: existing.id }, 'private key was already uploaded; using the existing record');
      return existing;
    }
  }

  async findBulkCertificateForDomain(domain: string): Promise<BulkCertificate | undefined> {
    const wanted = domain.toLowerCase();
    const all = await this.paginate('list bulk certificates', (page) =>
      this.clients.bulkCertificates.listTlsBulkCerts({ filter_tls_domain_id: wanted, page_number: page, page_size: this.pageSize }),
    );
    const matches = all.map(toBulkCertificate).filter((c) => c.domains.includes(wanted));
    matches.sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime() || b.createdAt.getTime() - a.createdAt.getTime());
    return matches[0];
  }

  async createBulkCertificate(certPem: string, intermediatesPem: string, configurationId: string): Promise<BulkCertificate> {
    const body: TlsBulkCertificateBody = {
      data: {
        type: 'tls_bulk_certificate',
        attributes: { cert_blob: certPem, intermediates_blob: intermediatesPem, allow_untrusted_root: this.allowUntrustedRoot },
        relationships: { tls_configurations: { data: [{ type: 'tls_configuration', id: configurationId }] } },
      },
    };
    const res = await this.call('create bulk certificate', 'unsafe', () =>
      this.clients.bulkCertificates.uploadTlsBulkCert({ tls_bulk_certificate: body }),
    );
    return toBulkCertificate(requireData(res.data, 'create bulk certificate'));
  }

  async replaceBulkCertificate(id: string, certPem: string, intermediatesPem: string): Promise<BulkCertificate> {
    const body: TlsBulkCertificateBody = {
      data: {
        type: 'tls_bulk_certificate',
        id,
        attributes: { cert_blob: certPem, intermediates_blob: intermediatesPem, allow_untrusted_root: this.allowUntrustedRoot },
      },
    };
    const res = await this.call('replace bulk certificate', 'safe', () =>
      this.clients.bulkCertificates.updateBulkTlsCert({ certificate_id: id, tls_bulk_certificate: body }),
    );
    return toBulkCertificate(requireData(res.data, 'replace bulk certificate'));
  }

  async listBulkCertificates(): Promise<BulkCertificate[]> {
    const all = await this.paginate('list bulk certificates', (page) =>
      this.clients.bulkCertificates.listTlsBulkCerts({ page_number: page, page_size: this.pageSize }),
    );
    return all.map(toBulkCertificate);
  }

  async listPrivateKeys(filter?: { inUse?: boolean }): Promise<FastlyPrivateKey[]> {
    const list = (inUseFalse: boolean) =>
      this.paginate('list private keys', (page) =>
        this.clients.privateKeys.listTlsKeys({
          ...(inUseFalse ? { filter_in_use: 'false' } : {}),
          page_number: page,
          page_size: this.pageSize,
        }),
      );
    if (filter?.inUse === false) {
      return (await list(true)).map((d) => ({ ...toPrivateKey(d), inUse: false }));
    }
    const all = (await list(false)).map(toPrivateKey);
    if (filter?.inUse === true) {
      // The API can only filter for unused keys; the used ones are the rest.
      const unused = new Set((await list(true)).map((d) => d.id));
      return all.filter((k) => !unused.has(k.id)).map((k) => ({ ...k, inUse: true }));
    }
    return all;
  }

  async deletePrivateKey(id: string): Promise<void> {
    try {
      await this.call('delete private key', 'safe', () => this.clients.privateKeys.deleteTlsKey({ tls_private_key_id: id }));
    } catch (err) {
      if (err instanceof FastlyError && err.status === 404) return;
      throw err;
    }
  }

  async deleteUnusedPrivateKeys(options: { dryRun: boolean }): Promise<FastlyPrivateKey[]> {
    const unused = await this.listPrivateKeys({ inUse: false });
    if (options.dryRun) return unused;
    const deleted: FastlyPrivateKey[] = [];
    const failures: string[] = [];
    let lastStatus: number | undefined;
    for (const key of unused) {
      try {
        await this.deletePrivateKey(key.id);
        deleted.push(key);
        this.logger.info({ keyId: key.id, keyName: key.name }, 'deleted unused private key');
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof FastlyError) lastStatus = err.status;
        failures.push(`${key.id}: ${message}`);
        this.logger.warn({ keyId: key.id, err: message }, 'could not delete unused private key');
      }
    }
    if (failures.length > 0) {
      const error = new FastlyError(`Could not delete ${failures.length} of ${unused.length} unused private keys: ${failures.join('; ')}`, {
        status: lastStatus,
      });
      error.deleted = deleted;
      throw error;
    }
    return deleted;
  }

  // ---- internals ----------------------------------------------------------

  private async findUploadedKey(pem: string): Promise<FastlyPrivateKey | undefined> {
    let fingerprints: string[];
    try {
      fingerprints = publicKeyFingerprints(pem);
    } catch {
      return undefined;
    }
    const keys = await this.listPrivateKeys();
    return keys.find((k) => fingerprints.includes(k.publicKeySha1.toLowerCase().replace(/:/g, '')));
  }

  private async paginate<T>(
    operation: string,
    fetchPage: (page: number) => Promise<{ data?: T[]; meta?: PaginationMeta; links?: PaginationLinks }>,
  ): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; page <= 10_000; page++) {
      const res = await this.call(operation, 'safe', () => fetchPage(page));
      const data = res.data ?? [];
      out.push(...data);
      const totalPages = res.meta?.total_pages;
      const more =
        totalPages !== undefined ? page < totalPages : res.links?.next ? true : res.links ? false : data.length >= this.pageSize;
      if (!more || data.length === 0) return out;
    }
    throw new FastlyError(`${operation}: too many pages`);
  }

  private async call<T>(operation: string, idempotency: Idempotency, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await fn();
        if (attempt > 0) this.logger.debug({ operation, attempt }, 'Fastly call succeeded after retry');
        return result;
      } catch (raw) {
        const err = this.toFastlyError(operation, raw);
        const delayMs = this.retryDelay(err, idempotency, attempt);
        if (delayMs === undefined) throw err;
        this.logger.warn({ operation, status: err.status, attempt: attempt + 1, delayMs }, 'Fastly call failed; retrying');
        await sleep(delayMs);
      }
    }
  }

  /** Milliseconds to wait before the next attempt, or undefined when the error is final. */
  private retryDelay(err: FastlyError, idempotency: Idempotency, attempt: number): number | undefined {
    if (attempt >= this.maxRetries) return undefined;
    const backoff = () => {
      const base = this.retryBaseDelayMs * 2 ** attempt;
      return Math.round(base / 2 + Math.random() * (base / 2));
    };
    if (err.status === 429) {
      if (err.retryAfterSeconds === undefined) return backoff();
      if (err.retryAfterSeconds > this.maxRetryAfterSeconds) return undefined;
      return err.retryAfterSeconds * 1000;
    }
    if (err.status !== undefined && err.status >= 500) return backoff();
    if (err.status === undefined) return idempotency === 'safe' ? backoff() : undefined; // timeout or network error
    return undefined;
  }

  private toFastlyError(operation: string, raw: unknown): FastlyError {
    if (raw instanceof FastlyError) return raw;
    const rejection = (typeof raw === 'object' && raw !== null ? raw : {}) as FastlyClientRejection;
    const status = typeof rejection.status === 'number' ? rejection.status : undefined;
    if (status === undefined) {
      const inner: (Error & { timeout?: number; code?: string }) | undefined = rejection.error ?? (raw instanceof Error ? raw : undefined);
      const timedOut = inner?.timeout !== undefined || inner?.code === 'ECONNABORTED' || inner?.code === 'ETIMEDOUT';
      const reason = timedOut ? 'timed out' : `failed: ${inner?.code ?? inner?.message ?? 'unknown error'}`;
      return new FastlyError(this.scrub(`Fastly ${operation} ${reason}`));
    }
    const retryAfter = parseRetryAfter(header(rejection.response, 'retry-after'));
    const detail = describeBody(rejection.body ?? rejection.response?.body, rejection.response?.text);
    return new FastlyError(this.scrub(`Fastly ${operation} failed: HTTP ${status}${detail ? ` ${detail}` : ''}`), {
      status,
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    });
  }

  /** Token and private keys out (a key cut short by the server too), then a bounded length. */
  private scrub(text: string): string {
    const clean = scrubSecrets(text, this.secrets).replace(UNTERMINATED_PRIVATE_KEY, '[REDACTED PRIVATE KEY]');
    return clean.length > 600 ? `${clean.slice(0, 600)}...` : clean;
  }
}

function isDuplicateKey(err: FastlyError): boolean {
  return err.status === 409 || (err.status !== undefined && err.status < 500 && /already exists/i.test(err.message));
}

function requireData<T>(data: T | undefined, operation: string): T {
  if (data === undefined || data === null) throw new FastlyError(`Fastly ${operation}: the answer has no data`);
  return data;
}

function toPrivateKey(data: TlsPrivateKeyResponseData | undefined): FastlyPrivateKey {
  if (!data?.id) throw new FastlyError('Fastly answered with a private key without an id');
  return {
    id: data.id,
    name: data.attributes?.name ?? '',
    publicKeySha1: data.attributes?.public_key_sha1 ?? '',
  };
}

function toBulkCertificate(data: TlsBulkCertificateResponseData): BulkCertificate {
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

function header(response: FastlyClientRejection['response'], name: string): string | undefined {
  const value = response?.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The useful words of an error body: JSON:API `errors[].title/detail`, or Fastly's `{msg, detail}`. */
function describeBody(body: unknown, text: string | undefined): string {
  if (typeof body === 'object' && body !== null) {
    const b = body as { errors?: unknown; msg?: unknown; detail?: unknown; title?: unknown };
    if (Array.isArray(b.errors)) {
      return b.errors
        .map((e: unknown) => {
          const x = (e ?? {}) as { title?: unknown; detail?: unknown };
          return [x.title, x.detail].filter((s): s is string => typeof s === 'string' && s.length > 0).join(': ');
        })
        .filter((s) => s.length > 0)
        .join('; ');
    }
    const parts = [b.msg, b.title, b.detail].filter((s): s is string => typeof s === 'string' && s.length > 0);
    if (parts.length > 0) return parts.join(': ');
  }
  return typeof text === 'string' ? text : '';
}

export function createFastlyTls(options: FastlyTlsOptions): FastlyTls {
  return new FastlyTlsClient(options);
}
