/**
 * An in-memory Fastly Platform TLS behind the `FastlyTls` interface
 * (src/storage/fastly.ts): it stands for the API and our client together.
 *
 * Rules it keeps, from Fastly's documentation:
 * - A bulk certificate is accepted only when a private key with the same public
 *   key was uploaded first (the Platform TLS guide: keys are uploaded before their
 *   certificates, https://www.fastly.com/documentation/reference/api/tls/platform/).
 *   Uploading a key that is already there answers with the existing key, as our
 *   client does after Fastly's 409 "Key already exists".
 * - PATCH (replace) keeps the certificate id, and "only SAN entries that appear
 *   in the replacement certificate will become TLS enabled. Any SAN entries that
 *   are missing in the replacement certificate will become disabled"
 *   (https://www.fastly.com/documentation/reference/api/tls/platform/ — Replace a
 *   certificate). Disabled names are kept in `disabledDomains`, so a test can see a
 *   site's TLS taken down.
 * - A key in use by a certificate cannot be deleted.
 * - Writes are limited: non-read requests (POST, PUT, PATCH, DELETE) to 1,000 an
 *   hour per user, with `Fastly-RateLimit-Remaining` and `Fastly-RateLimit-Reset`
 *   (Unix seconds when the window resets) on every answer, and 429 once it is used up
 *   (https://www.fastly.com/documentation/reference/api/#rate-limiting; Fastly's
 *   own Ruby client sets DEFAULT_RATELIMIT = 1000 from that page).
 *   `rateLimitHeaders()` gives the headers of the last answer.
 * - 503 faults (percentages, the next N calls, outage windows), each attempt
 *   retried like our client retries 5xx (`retries`, default 3), so what reaches the
 *   caller is what the real client would throw: a `FastlyError` with `status`.
 */
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Clock } from '../../src/clock.js';
import { readCertificate, splitPemCertificates } from '../../src/certificates/x509.js';
import { isOwnCertificate } from '../../src/storage/fastly-deploy.js';
import { FastlyError, type BulkCertificate, type FastlyPrivateKey, type FastlyTls, type TlsConfiguration } from '../../src/storage/fastly.js';
import { drawFault, noFaults, type FaultSwitches } from './random.js';

export interface StoredKey {
  id: string;
  name: string;
  pem: string;
  publicKeySha1: string;
  createdAt: Date;
}

export interface StoredCertificate {
  id: string;
  certPem: string;
  intermediatesPem: string;
  /** SAN entries TLS is enabled for. */
  domains: string[];
  /** SAN entries a replacement left out: no longer served. */
  disabledDomains: string[];
  configurationIds: string[];
  keyId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
  updatedAt: Date;
}

export interface FastlyCall {
  at: Date;
  operation: string;
  write: boolean;
  /** 200-ish on success, else the failing status. */
  status: number;
}

export interface MemoryFastlyOptions {
  clock: Clock;
  random?: () => number;
  /** Writes allowed per window; default 1000. */
  writeLimit?: number;
  /** Window length; default one hour. */
  windowMs?: number;
  /** Retries of a 5xx, as the client does; default 3. */
  retries?: number;
  /** The TLS configurations that exist; default: any id asked for exists. */
  configurationIds?: string[];
}

const HOUR = 3_600_000;

export class MemoryFastly implements FastlyTls {
  readonly keys = new Map<string, StoredKey>();
  readonly certs = new Map<string, StoredCertificate>();
  /** Every attempt, reads and writes, in order. */
  readonly calls: FastlyCall[] = [];
  /** 503 switches. */
  readonly faults: FaultSwitches = noFaults();

  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly writeLimit: number;
  private readonly windowMs: number;
  private readonly retries: number;
  private readonly configurationIds: string[] | undefined;
  private windowResetAt = 0;
  private remaining: number;
  private nextId = 1;
  // Indexes, so that a fleet of 10,000 domains (the lifecycle simulator) costs no scan per call.
  private readonly byName = new Map<string, Set<string>>();
  private readonly keyBySha1 = new Map<string, string>();
  private readonly certsByKey = new Map<string, number>();
  /** Keys no certificate uses, for `filter[in_use]=false` without a walk over every key. */
  private readonly unusedKeys = new Set<string>();
  private readonly serials = new Set<string>();

  constructor(options: MemoryFastlyOptions) {
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
    this.writeLimit = options.writeLimit ?? 1000;
    this.windowMs = options.windowMs ?? HOUR;
    this.retries = options.retries ?? 3;
    this.configurationIds = options.configurationIds;
    this.remaining = this.writeLimit;
  }

  /** `Fastly-RateLimit-Remaining` and `Fastly-RateLimit-Reset`, as the last answer carried them. */
  rateLimitHeaders(): { 'Fastly-RateLimit-Remaining': string; 'Fastly-RateLimit-Reset': string } {
    this.rollWindow();
    return { 'Fastly-RateLimit-Remaining': String(this.remaining), 'Fastly-RateLimit-Reset': String(Math.floor(this.windowResetAt / 1000)) };
  }

  /**
   * The certificate a TLS handshake for `domain` would get. Fastly: "If an identical
   * hostname appears on more than one certificate, then the most recently uploaded
   * certificate will be used", and "the most specific hostname will be prioritized"
   * (https://www.fastly.com/documentation/reference/api/tls/platform/), as the
   * HTTP fake (test/testbed/fastly-fake.ts) applies it.
   */
  servedCertificate(domain: string): StoredCertificate | undefined {
    const name = domain.toLowerCase();
    const dot = name.indexOf('.');
    const newest = (ids: Set<string> | undefined): StoredCertificate | undefined =>
      [...(ids ?? [])]
        .map((id) => this.certs.get(id) as StoredCertificate)
        .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || b.createdAt.getTime() - a.createdAt.getTime())[0];
    return newest(this.byName.get(name)) ?? (dot > 0 ? newest(this.byName.get(`*${name.slice(dot)}`)) : undefined);
  }

  writes(): FastlyCall[] {
    return this.calls.filter((c) => c.write && c.status < 400);
  }

  // ---- FastlyTls --------------------------------------------------------------

  async uploadPrivateKey(pem: string, name: string): Promise<FastlyPrivateKey> {
    return this.call('create private key', true, () => {
      let sha1: string;
      try {
        sha1 = spkiSha1(pem);
      } catch {
        throw new FastlyError('Fastly create private key failed: HTTP 400 Key is not a valid PEM-formatted private key', { status: 400 });
      }
      const existingId = this.keyBySha1.get(sha1);
      const existing = existingId === undefined ? undefined : this.keys.get(existingId);
      if (existing) return toKey(existing);
      const key: StoredKey = { id: this.newId('key'), name, pem, publicKeySha1: sha1, createdAt: this.clock.now() };
      this.keys.set(key.id, key);
      this.keyBySha1.set(sha1, key.id);
      this.unusedKeys.add(key.id);
      return toKey(key);
    });
  }

  async findBulkCertificateForDomain(domain: string): Promise<BulkCertificate | undefined> {
    const own = (await this.listBulkCertificatesForDomain(domain)).filter((c) => isOwnCertificate(c, domain));
    own.sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime() || b.createdAt.getTime() - a.createdAt.getTime());
    return own[0];
  }

  async listBulkCertificatesForDomain(domain: string): Promise<BulkCertificate[]> {
    // filter[tls_domain.id] returns certificates whose enabled SANs include the name.
    return this.call('list bulk certificates', false, () => [...(this.byName.get(domain.toLowerCase()) ?? [])].map((id) => toBulk(this.certs.get(id) as StoredCertificate)));
  }

  async findUploadedCertificate(certPem: string): Promise<BulkCertificate | undefined> {
    const serial = readCertificate(certPem).serial;
    return this.call('list bulk certificates', false, () => {
      const found = [...this.certs.values()].find((c) => c.serial === serial);
      return found ? toBulk(found) : undefined;
    });
  }

  async createBulkCertificate(certPem: string, intermediatesPem: string, configurationId: string): Promise<BulkCertificate> {
    return this.call('create bulk certificate', true, () => {
      const examined = this.examine(certPem, intermediatesPem, 'create bulk certificate');
      if (this.serials.has(examined.serial)) {
        throw new FastlyError('Fastly create bulk certificate failed: HTTP 409 Conflict: Certificate already exists', { status: 409 });
      }
      const now = this.clock.now();
      const cert: StoredCertificate = { id: this.newId('cert'), ...examined, disabledDomains: [], configurationIds: [configurationId], createdAt: now, updatedAt: now };
      this.certs.set(cert.id, cert);
      this.index(cert, +1);
      return toBulk(cert);
    });
  }

  async replaceBulkCertificate(id: string, certPem: string, intermediatesPem: string): Promise<BulkCertificate> {
    return this.call('replace bulk certificate', true, () => {
      const cert = this.certs.get(id);
      if (!cert) throw new FastlyError('Fastly replace bulk certificate failed: HTTP 404 Record not found', { status: 404 });
      const examined = this.examine(certPem, intermediatesPem, 'replace bulk certificate');
      const dropped = cert.domains.filter((d) => !examined.domains.includes(d));
      this.index(cert, -1);
      Object.assign(cert, examined, {
        disabledDomains: [...new Set([...cert.disabledDomains, ...dropped])].filter((d) => !examined.domains.includes(d)),
        updatedAt: this.clock.now(),
      });
      this.index(cert, +1);
      return toBulk(cert);
    });
  }

  async listBulkCertificates(): Promise<BulkCertificate[]> {
    return this.call('list bulk certificates', false, () => [...this.certs.values()].map(toBulk));
  }

  async listPrivateKeys(filter?: { inUse?: boolean }): Promise<FastlyPrivateKey[]> {
    return this.call('list private keys', false, () => {
      const keys =
        filter?.inUse === undefined
          ? [...this.keys.values()]
          : filter.inUse
            ? [...this.keys.values()].filter((k) => this.keyInUse(k.id))
            : [...this.unusedKeys].map((id) => this.keys.get(id) as StoredKey);
      return keys.map((k) => ({ ...toKey(k), ...(filter?.inUse === undefined ? {} : { inUse: filter.inUse }) }));
    });
  }

  /** GET /tls/configurations/<id> answers 404 "Record not found" for an id that does not exist (Fastly's JSON:API errors). */
  async getTlsConfiguration(id: string): Promise<TlsConfiguration> {
    return this.call('get TLS configuration', false, () => {
      if (this.configurationIds && !this.configurationIds.includes(id)) {
        throw new FastlyError('Fastly get TLS configuration failed: HTTP 404 Not Found: Record not found', { status: 404 });
      }
      return { id, name: `configuration ${id}`, bulk: true, default: false };
    });
  }

  async deletePrivateKey(id: string): Promise<void> {
    return this.call('delete private key', true, () => {
      if (!this.keys.has(id)) return; // our client treats 404 as done
      if (this.keyInUse(id)) throw new FastlyError('Fastly delete private key failed: HTTP 409 Key is in use by a certificate', { status: 409 });
      this.keyBySha1.delete((this.keys.get(id) as StoredKey).publicKeySha1);
      this.keys.delete(id);
      this.unusedKeys.delete(id);
    });
  }

  async deleteUnusedPrivateKeys(options: { dryRun: boolean }): Promise<FastlyPrivateKey[]> {
    const unused = await this.listPrivateKeys({ inUse: false });
    if (!options.dryRun) for (const key of unused) await this.deletePrivateKey(key.id);
    return unused;
  }

  keyInUse(keyId: string): boolean {
    return (this.certsByKey.get(keyId) ?? 0) > 0;
  }

  // ---- internals --------------------------------------------------------------

  private examine(certPem: string, intermediatesPem: string, operation: string) {
    const [leafPem] = splitPemCertificates(certPem);
    if (!leafPem) throw new FastlyError(`Fastly ${operation} failed: HTTP 400 cert_blob is not a PEM-formatted certificate`, { status: 400 });
    const leaf = new X509Certificate(leafPem);
    const [issuerPem] = splitPemCertificates(intermediatesPem);
    if (issuerPem && !leaf.verify(this.issuerKey(issuerPem))) {
      throw new FastlyError(`Fastly ${operation} failed: HTTP 400 Certificate chain is invalid`, { status: 400 });
    }
    const sha1 = createHash('sha1').update(leaf.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    const keyId = this.keyBySha1.get(sha1);
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (!key) throw new FastlyError(`Fastly ${operation} failed: HTTP 400 No private key matching the certificate was uploaded`, { status: 400 });
    const info = readCertificate(leafPem);
    return { certPem: leafPem, intermediatesPem, domains: info.dnsNames, keyId: key.id, serial: info.serial, notBefore: info.notBefore, notAfter: info.notAfter };
  }

  /** Intermediates are few and uploaded with every certificate: each is parsed once. */
  private readonly issuerKeys = new Map<string, KeyObject>();
  private issuerKey(issuerPem: string): KeyObject {
    let key = this.issuerKeys.get(issuerPem);
    if (!key) this.issuerKeys.set(issuerPem, (key = new X509Certificate(issuerPem).publicKey));
    return key;
  }

  private call<T>(operation: string, write: boolean, fn: () => T): T {
    for (let attempt = 0; ; attempt++) {
      const now = this.clock.now();
      this.rollWindow();
      if (write && this.remaining <= 0) {
        this.calls.push({ at: now, operation, write, status: 429 });
        const retryAfterSeconds = Math.max(1, Math.ceil((this.windowResetAt - now.getTime()) / 1000));
        // What our client makes of it (src/storage/fastly.ts retryDecision, fastly-pacer.ts): Fastly's
        // 429 carries Fastly-RateLimit-Remaining: 0 and -Reset, the pacer then holds the retry until the
        // reset, and a reset beyond its longest hold ends the call "held back" with rateLimitResetAt.
        const error = new FastlyError(`Fastly ${operation} held back: the API write allowance is used up (Fastly-RateLimit-Remaining: 0) until ${new Date(this.windowResetAt).toISOString()}`, {
          status: 429,
          retryAfterSeconds,
        });
        error.rateLimitResetAt = new Date(this.windowResetAt);
        throw error;
      }
      if (write) this.remaining--;
      const fault = drawFault(this.faults, now, this.random);
      if (fault) {
        this.calls.push({ at: now, operation, write, status: 503 });
        if (attempt < this.retries) continue;
        throw new FastlyError(`Fastly ${operation} failed: HTTP 503 Service Unavailable`, { status: 503 });
      }
      try {
        const result = fn();
        this.calls.push({ at: now, operation, write, status: 200 });
        return result;
      } catch (error) {
        this.calls.push({ at: now, operation, write, status: error instanceof FastlyError ? (error.status ?? 500) : 500 });
        throw error;
      }
    }
  }

  /** Adds (+1) or removes (-1) a certificate from the name and key indexes. */
  private index(cert: StoredCertificate, delta: 1 | -1): void {
    for (const name of cert.domains) {
      const ids = this.byName.get(name) ?? new Set<string>();
      if (delta > 0) ids.add(cert.id);
      else ids.delete(cert.id);
      if (ids.size > 0) this.byName.set(name, ids);
      else this.byName.delete(name);
    }
    const uses = (this.certsByKey.get(cert.keyId) ?? 0) + delta;
    this.certsByKey.set(cert.keyId, uses);
    if (uses > 0) this.unusedKeys.delete(cert.keyId);
    else if (this.keys.has(cert.keyId)) this.unusedKeys.add(cert.keyId);
    if (delta > 0) this.serials.add(cert.serial);
    else this.serials.delete(cert.serial);
  }

  private rollWindow(): void {
    const now = this.clock.now().getTime();
    if (now >= this.windowResetAt) {
      this.windowResetAt = now + this.windowMs;
      this.remaining = this.writeLimit;
    }
  }

  private newId(kind: string): string {
    return `${kind}${String(this.nextId++).padStart(6, '0')}`;
  }
}

function spkiSha1(privateKeyPem: string): string {
  const spki = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha1').update(spki).digest('hex');
}

function toKey(k: StoredKey): FastlyPrivateKey {
  return { id: k.id, name: k.name, publicKeySha1: k.publicKeySha1 };
}

function toBulk(c: StoredCertificate): BulkCertificate {
  return { id: c.id, notAfter: c.notAfter, notBefore: c.notBefore, createdAt: c.createdAt, domains: [...c.domains], configurationIds: [...c.configurationIds] };
}
