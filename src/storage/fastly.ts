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
 *
 * Writes are paced by Fastly's rate-limit headers (1,000 non-read requests per
 * hour per user; https://www.fastly.com/documentation/reference/api/#rate-limiting):
 * one `WritePacer` per client, shared by every domain in flight, counts down
 * `Fastly-RateLimit-Remaining` and, once it reaches 0, holds further writes until
 * `Fastly-RateLimit-Reset` (epoch seconds) instead of spending requests on 429s.
 * A hold longer than `maxHoldSeconds` fails the call with a `FastlyError` that
 * names the step and the reset time.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { scrubSecrets, type Logger } from '../logger.js';
import { readCertificate } from '../certificates/x509.js';
import { parseRetryAfter, sleep, withRetry, type RetryDecision } from '../util/retry.js';
import {
  createFastlyClients,
  type FastlyClientRejection,
  type FastlyClients,
  type PaginationLinks,
  type PaginationMeta,
  type TlsBulkCertificateBody,
} from './fastly-client.js';
import {
  FastlyError,
  requireData,
  toBulkCertificate,
  toPrivateKey,
  toTlsConfiguration,
  type BulkCertificate,
  type FastlyPrivateKey,
  type FastlyTls,
  type TlsConfiguration,
} from './fastly-api.js';
import { header, WritePacer } from './fastly-pacer.js';

export { FastlyError, type BulkCertificate, type FastlyPrivateKey, type FastlyTls, type TlsConfiguration } from './fastly-api.js';

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
  /**
   * Longest wait for Fastly's write allowance to come back (Fastly-RateLimit-Reset);
   * a longer one fails the call at once. Default 300 s, within the default RUN_TIMEOUT.
   */
  maxHoldSeconds?: number;
  /** Clock in epoch milliseconds (tests); default Date.now. */
  now?: () => number;
  /** How the pacer waits (tests); default a timer. */
  sleep?: (ms: number) => Promise<void>;
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

/**
 * `read`: not rate limited, safe to repeat. `write`: paced, safe to repeat (the
 * replace, deletes, and the key upload whose duplicate answer is resolved).
 * `write-once`: paced, not repeated after a timeout or a network error, since it
 * may have landed (creating a bulk certificate).
 */
type CallKind = 'read' | 'write' | 'write-once';

function isRead(method: string): boolean {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD';
}

class FastlyTlsClient implements FastlyTls {
  private readonly clients: FastlyClients;
  private readonly logger: Logger;
  private readonly maxRetries: number;
  private readonly allowUntrustedRoot: boolean;
  private readonly retryBaseDelayMs: number;
  private readonly maxRetryAfterSeconds: number;
  private readonly pageSize: number;
  private readonly secrets: string[];
  private readonly pacer: WritePacer;

  constructor(options: FastlyTlsOptions) {
    if (!options.apiToken) throw new FastlyError('A Fastly API token is required');
    this.logger = options.logger.child({ component: 'fastly' });
    this.pacer = new WritePacer({
      maxHoldMs: (options.maxHoldSeconds ?? 300) * 1000,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? sleep,
      logger: this.logger,
    });
    this.clients = createFastlyClients({
      apiToken: options.apiToken,
      apiUrl: options.apiUrl,
      timeoutMs: options.timeoutMs ?? 30_000,
      // The official client reads these headers only on non-GET, non-HEAD answers too (ApiClient.callApi).
      onResponse: (method, response) => {
        if (!isRead(method)) this.pacer.observe(response);
      },
    });
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.allowUntrustedRoot = options.allowUntrustedRoot ?? false;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? 30;
    this.pageSize = options.pageSize ?? 100;
    this.secrets = [options.apiToken];
  }

  async uploadPrivateKey(pem: string, name: string): Promise<FastlyPrivateKey> {
    try {
      return await this.createKeyOnce(pem, name);
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
    const own = (await this.listBulkCertificatesForDomain(wanted)).filter((c) => c.domains.every((n) => n === wanted || n === `*.${wanted}`));
    own.sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime() || b.createdAt.getTime() - a.createdAt.getTime());
    return own[0];
  }

  async listBulkCertificatesForDomain(domain: string): Promise<BulkCertificate[]> {
    const wanted = domain.toLowerCase();
    const all = await this.paginate('list bulk certificates', (page) =>
      this.clients.bulkCertificates.listTlsBulkCerts({ filter_tls_domain_id: wanted, page_number: page, page_size: this.pageSize }),
    );
    return all.map(toBulkCertificate).filter((c) => c.domains.includes(wanted));
  }

  async findUploadedCertificate(certPem: string): Promise<BulkCertificate | undefined> {
    const leaf = readCertificate(certPem);
    const names = [...new Set(leaf.dnsNames)].sort();
    const first = names.find((n) => !n.startsWith('*.')) ?? names[0];
    if (!first) return undefined;
    const candidates = await this.listBulkCertificatesForDomain(first);
    return candidates.find(
      (c) =>
        c.notAfter.getTime() === leaf.notAfter.getTime() &&
        c.notBefore.getTime() === leaf.notBefore.getTime() &&
        [...new Set(c.domains)].sort().join(',') === names.join(','),
    );
  }

  async createBulkCertificate(certPem: string, intermediatesPem: string, configurationId: string): Promise<BulkCertificate> {
    const body: TlsBulkCertificateBody = {
      data: {
        type: 'tls_bulk_certificate',
        attributes: { cert_blob: certPem, intermediates_blob: intermediatesPem, allow_untrusted_root: this.allowUntrustedRoot },
        relationships: { tls_configurations: { data: [{ type: 'tls_configuration', id: configurationId }] } },
      },
    };
    const res = await this.call('create bulk certificate', 'write-once', () =>
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
    const res = await this.call('replace bulk certificate', 'write', () =>
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

  async getTlsConfiguration(id: string): Promise<TlsConfiguration> {
    const res = await this.call('get TLS configuration', 'read', () => this.clients.configurations.getTlsConfig({ tls_configuration_id: id }));
    return toTlsConfiguration(res.data);
  }

  async deletePrivateKey(id: string): Promise<void> {
    try {
      await this.call('delete private key', 'write', () => this.clients.privateKeys.deleteTlsKey({ tls_private_key_id: id }));
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

  /**
   * POST /tls/private_keys. After an answer that never came (timeout, network
   * error), the keys are listed (a read, not rate limited) to find out whether the
   * key landed, before a write is spent on sending it again.
   */
  private async createKeyOnce(pem: string, name: string): Promise<FastlyPrivateKey> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.call('create private key', 'write-once', () =>
          this.clients.privateKeys.createTlsKey({ tls_private_key: { data: { type: 'tls_private_key', attributes: { key: pem, name } } } }),
        );
        return toPrivateKey(res.data);
      } catch (err) {
        if (!(err instanceof FastlyError) || err.status !== undefined || attempt >= this.maxRetries) throw err;
        const landed = await this.findUploadedKey(pem);
        if (landed) {
          this.logger.info({ keyId: landed.id }, 'the private key upload got no answer but the key was created; using it');
          return landed;
        }
        this.logger.warn({ operation: 'create private key', attempt: attempt + 1 }, 'Fastly key upload got no answer and the key is not there; sending it again');
      }
    }
  }

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
      const res = await this.call(operation, 'read', () => fetchPage(page));
      const data = res.data ?? [];
      out.push(...data);
      const totalPages = res.meta?.total_pages;
      const more =
        totalPages !== undefined ? page < totalPages : res.links?.next ? true : res.links ? false : data.length >= this.pageSize;
      if (!more || data.length === 0) return out;
    }
    throw new FastlyError(`${operation}: too many pages`);
  }

  private async call<T>(operation: string, kind: CallKind, fn: () => Promise<T>): Promise<T> {
    const policy = {
      attempts: this.maxRetries + 1,
      baseDelayMs: this.retryBaseDelayMs,
      maxDelayMs: Math.max(this.maxRetryAfterSeconds * 1000, this.retryBaseDelayMs * 2 ** this.maxRetries),
    };
    return withRetry(
      async (attempt) => {
        const release = kind === 'read' ? undefined : await this.pacer.acquire(operation);
        try {
          const result = await fn();
          if (attempt > 1) this.logger.debug({ operation, attempt: attempt - 1 }, 'Fastly call succeeded after retry');
          return result;
        } catch (raw) {
          throw this.toFastlyError(operation, raw);
        } finally {
          release?.();
        }
      },
      {
        policy,
        classify: (err) => (err instanceof FastlyError ? this.retryDecision(err, kind) : { retry: false }),
        onRetry: (err, attempt, delayMs) =>
          this.logger.warn({ operation, status: err instanceof FastlyError ? err.status : undefined, attempt, delayMs }, 'Fastly call failed; retrying'),
      },
    );
  }

  private retryDecision(err: FastlyError, kind: CallKind): RetryDecision {
    if (err.rateLimitResetAt) return { retry: false }; // held back longer than we wait: final
    if (err.status === 429) {
      if (err.retryAfterSeconds !== undefined) {
        return err.retryAfterSeconds > this.maxRetryAfterSeconds ? { retry: false } : { retry: true, delayMs: err.retryAfterSeconds * 1000 };
      }
      // The allowance is used up: the next attempt waits in the pacer until Fastly-RateLimit-Reset (or fails there).
      if (this.pacer.exhausted()) return { retry: true, delayMs: 0 };
      return { retry: true };
    }
    if (err.status !== undefined && err.status >= 500) return { retry: true };
    if (err.status === undefined) return kind === 'write-once' ? { retry: false } : { retry: true }; // timeout or network error
    return { retry: false };
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
    const retryAfter = rejection.response ? parseRetryAfter(header(rejection.response, 'retry-after')) : undefined;
    const detail = describeBody(rejection.body ?? rejection.response?.body, rejection.response?.text);
    return new FastlyError(this.scrub(`Fastly ${operation} failed: HTTP ${status}${detail ? ` ${detail}` : ''}`), {
      status,
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    });
  }

  /** Token and private keys out (a key cut short by the server too), then a bounded length. */
  private scrub(text: string): string {
    const clean = scrubSecrets(text, this.secrets);
    return clean.length > 600 ? `${clean.slice(0, 600)}...` : clean;
  }
}

function isDuplicateKey(err: FastlyError): boolean {
  return err.status === 409 || (err.status !== undefined && err.status < 500 && /already exists/i.test(err.message));
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
