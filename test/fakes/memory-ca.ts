/**
 * An in-memory CA behind the `CertificateIssuer` interface (src/certificates/issuer.ts),
 * standing for AcmeIssuer + Let's Encrypt together. It behaves as Let's Encrypt
 * documents and Boulder implements:
 *
 * - Real X.509 certificates, signed by an in-memory intermediate: empty subject
 *   and a critical SAN (`<d>`, `*.<d>`), as the modern profiles issue
 *   (https://letsencrypt.org/docs/profiles/ and RFC 5280 §4.2.1.6), with an
 *   AKI so that the ARI CertID (RFC 9773 §4.1) can be computed.
 * - Lifetimes by profile and issuance date: `classic` 90 days, 64 days from
 *   2027-02-10, 45 days from 2028-02-16 (https://letsencrypt.org/2025/12/02/from-90-to-45);
 *   `tlsserver` 45 days; `shortlived` 160 hours (https://letsencrypt.org/docs/profiles/).
 *   notBefore is backdated one hour, and the validity includes its last second,
 *   as Boulder's issuance does (issuance/cert.go: `NotAfter = NotBefore + validity - 1s`).
 * - ARI (RFC 9773): Boulder's core.RenewalInfoSimple — a window centred where a
 *   third of the lifetime is left (half, below 10 days), 1% of the lifetime either
 *   side; a revoked certificate, or one announced for revocation, gets
 *   RenewalInfoImmediate — a window that started an hour ago and ended 30 minutes later,
 *   with an explanationURL. Retry-After: 6 hours (Let's Encrypt's answer).
 * - DNS-01 validated by reading the in-memory DNS: each authorization's value must be
 *   visible at `_acme-challenge.<d>` (CNAMEs followed). Boulder's wording
 *   (va/dns.go): "No TXT record found at ..." / "Incorrect TXT record ... found at ...".
 * - Orders resumable by URL; a pending order expires after 7 days (Boulder's
 *   pendingAuthorizationLifetimeDays).
 * - Let's Encrypt's limits (https://letsencrypt.org/docs/rate-limits/), as Boulder's
 *   GCRA buckets (ratelimits/gcra.go: a limit of N per period refills one every
 *   period/N), refused with `urn:ietf:params:acme:error:rateLimited` and a Retry-After,
 *   worded as Boulder's ratelimits/utilities.go words them:
 *     new orders per account: 300 / 3 h;
 *     new certificates per registered domain: 50 / 7 days (a renewal — the exact
 *       set of names issued before — is exempt: "Renewal exemption" on the docs page);
 *     new certificates per exact set of identifiers: 5 / 7 days;
 *     authorization failures per identifier per account: 5 / 1 h.
 *   An ARI renewal (`replaces` naming a certificate whose suggested window has
 *   started) is exempt from all of them (the page's exemptions for renewals
 *   through ARI).
 *
 * Faults: outage windows and failure percentages (`faults`), plus
 * `failAfterOrderCreated` to leave an order behind the way a crashed run does.
 *
 * Simplifications: one account; authorizations are not reused across orders
 * (every order validates afresh — stricter than Let's Encrypt's reuse period of
 * 30 days, 10 from 2027-02-10, 7 hours from 2028-02-16); the registered domain is the last two labels
 * unless `registeredDomain` is given (Let's Encrypt uses the Public Suffix List).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { Clock } from '../../src/clock.js';
import type { CertificateIssuer, IssuedCertificate, IssueHooks, IssueRequest, RenewalInfo, RevocationReason } from '../../src/certificates/issuer.js';
import type { KeyAndCsr } from '../../src/certificates/keys.js';
import { newKeyAndCsr } from '../../src/certificates/keys.js';
import {
  AcmeError,
  AcmeNetworkError,
  AcmeOrderError,
  AcmeOrderGoneError,
  AcmeProfileError,
  AcmeRateLimitedError,
  AcmeValidationError,
} from '../../src/certificates/errors.js';
import { ariCertId, readCertificate, splitFullchain } from '../../src/certificates/x509.js';
import type { PublishedChallenge } from '../../src/dns/challenge.js';
import { bitString, bool, certificate, extension, name, oid, octets, readCsr, seq, tlv, toPem } from './der.js';
import type { TxtResolver } from './memory-dns.js';
import { challengeName } from './memory-dns.js';
import { drawFault, noFaults, type FaultSwitches } from './random.js';

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

export const RATE_LIMITED = 'urn:ietf:params:acme:error:rateLimited';

export type Profile = 'classic' | 'tlsserver' | 'shortlived';
export const PROFILES: readonly Profile[] = ['classic', 'tlsserver', 'shortlived'];

/** The lifetime Let's Encrypt gives a certificate of `profile` issued at `at`. */
export function lifetimeMs(profile: Profile, at: Date): number {
  if (profile === 'shortlived') return 160 * HOUR;
  if (profile === 'tlsserver') return 45 * DAY;
  if (at.getTime() >= Date.parse('2028-02-16T00:00:00Z')) return 45 * DAY;
  if (at.getTime() >= Date.parse('2027-02-10T00:00:00Z')) return 64 * DAY;
  return 90 * DAY;
}

/** Boulder core.RenewalInfoSimple. */
export function simpleWindow(notBefore: Date, notAfter: Date): { start: Date; end: Date } {
  const validity = notAfter.getTime() + SECOND - notBefore.getTime();
  const offset = validity < 10 * DAY ? validity / 2 : validity / 3;
  const ideal = notAfter.getTime() - offset;
  const margin = validity / 100;
  return { start: new Date(ideal - margin), end: new Date(ideal + margin) };
}

/** One of Let's Encrypt's limits: `count` per `periodMs`. */
export interface Limit {
  name: 'newOrdersPerAccount' | 'certificatesPerDomain' | 'certificatesPerFqdnSet' | 'failedAuthorizationsPerIdentifier';
  count: number;
  periodMs: number;
}

export const LETS_ENCRYPT_LIMITS = {
  newOrdersPerAccount: { name: 'newOrdersPerAccount', count: 300, periodMs: 3 * HOUR },
  certificatesPerDomain: { name: 'certificatesPerDomain', count: 50, periodMs: 7 * DAY },
  certificatesPerFqdnSet: { name: 'certificatesPerFqdnSet', count: 5, periodMs: 7 * DAY },
  failedAuthorizationsPerIdentifier: { name: 'failedAuthorizationsPerIdentifier', count: 5, periodMs: HOUR },
} as const satisfies Record<Limit['name'], Limit>;

export interface RateLimitRejection {
  at: Date;
  limit: Limit['name'];
  key: string;
  retryAfter: Date;
  detail: string;
}

type OrderStatus = 'pending' | 'ready' | 'valid' | 'invalid';

export interface FakeOrder {
  url: string;
  domain: string;
  identifiers: string[];
  profile: Profile;
  replaces: string | undefined;
  /** Whether this order was exempt from the limits as an ARI renewal. */
  ariRenewal: boolean;
  status: OrderStatus;
  createdAt: Date;
  expires: Date;
  /** Key authorisation digests, one per identifier. */
  challenges: Array<{ identifier: string; value: string; status: 'pending' | 'valid' | 'invalid' }>;
  certificateSerial?: string;
}

export interface FakeCertificate {
  serial: string;
  certId: string;
  domain: string;
  identifiers: string[];
  profile: Profile;
  notBefore: Date;
  notAfter: Date;
  fullchainPem: string;
  /** The certified key's SubjectPublicKeyInfo (DER), as the CSR gave it. */
  spki: Buffer;
  orderUrl: string;
  /** certId of the certificate it replaced via ARI. */
  replaces?: string;
  /** Set once an order naming it in `replaces` was accepted. */
  replacedBy?: string;
  /** When ARI started announcing its revocation. */
  revocationAnnouncedAt?: Date;
  /** When it is (or will be) revoked. */
  revokedAt?: Date;
  /** The reason a subscriber gave with `revoke`. */
  revocationReason?: RevocationReason;
}

export interface MemoryCaOptions {
  clock: Clock;
  /** Where DNS-01 values are looked up (the in-memory DNS). */
  dns: TxtResolver;
  /** Default `Math.random`; give a seeded one for repeatable faults. */
  random?: () => number;
  /** Profiles the directory advertises; default Let's Encrypt's three. */
  profiles?: readonly Profile[];
  /** The profile used when the order names none; default `classic`. */
  defaultProfile?: Profile;
  /** Override any of Let's Encrypt's limits (e.g. a smaller count in a test). */
  limits?: Partial<{ [K in Limit['name']]: Partial<Limit> }>;
  /** Registered domain of a name; default the last two labels. */
  registeredDomain?: (name: string) => string;
  /** Answer `renewalInfo` (default true); false models a CA without ARI. */
  ari?: boolean;
  /** ARI Retry-After in seconds; default 21600 (6 h, as Let's Encrypt). */
  ariRetryAfterSeconds?: number;
  explanationUrl?: string;
  /** Origin of the order URLs; default `https://fake-acme.invalid` (a second CA needs its own). */
  origin?: string;
}

export interface MemoryCaFaults extends FaultSwitches {
  /** The next N orders fail with a network error right after they were created (a crash mid-order). */
  failAfterOrderCreated: number;
}

interface Bucket {
  /** GCRA theoretical arrival time, ms. */
  tat: number;
}

export class MemoryCa implements CertificateIssuer {
  readonly faults: MemoryCaFaults = { ...noFaults(), failAfterOrderCreated: 0 };
  readonly orders = new Map<string, FakeOrder>();
  /** By serial. */
  readonly certificates = new Map<string, FakeCertificate>();
  readonly rejections: RateLimitRejection[] = [];
  readonly stats = { newOrders: 0, issued: 0, failedValidations: 0, renewalInfoRequests: 0, faults: 0 };

  private readonly clock: Clock;
  private readonly dns: TxtResolver;
  private readonly random: () => number;
  private readonly profiles: readonly Profile[];
  private readonly defaultProfile: Profile;
  private readonly origin: string;
  private readonly limits: Record<Limit['name'], Limit>;
  private readonly registeredDomain: (name: string) => string;
  private readonly ari: boolean;
  private readonly ariRetryAfterSeconds: number;
  private readonly explanationUrl: string;
  private readonly buckets = new Map<string, Bucket>();
  private readonly byCertId = new Map<string, FakeCertificate>();
  /**
   * By leaf PEM (trimmed): `renewalInfo` finds a certificate it issued without
   * parsing it again (ariCertId costs about 2 ms; the lifecycle simulator asks
   * every 6 hours for each of 10,000 certificates). Unknown PEMs still go by CertID.
   */
  private readonly fqdnSetsIssued = new Set<string>();
  private readonly rootKey: KeyObject;
  private readonly intermediateKey: KeyObject;
  private readonly intermediateKeyId: Buffer;
  private readonly intermediatePem: string;
  readonly rootPem: string;
  private orderSeq = 0;

  constructor(options: MemoryCaOptions) {
    this.clock = options.clock;
    this.dns = options.dns;
    this.random = options.random ?? Math.random;
    this.profiles = options.profiles ?? PROFILES;
    this.defaultProfile = options.defaultProfile ?? 'classic';
    this.limits = { ...LETS_ENCRYPT_LIMITS };
    for (const [key, override] of Object.entries(options.limits ?? {}) as Array<[Limit['name'], Partial<Limit>]>) {
      this.limits[key] = { ...this.limits[key], ...override, name: key };
    }
    this.registeredDomain = options.registeredDomain ?? ((n) => n.replace(/^\*\./, '').split('.').slice(-2).join('.'));
    this.ari = options.ari ?? true;
    this.origin = options.origin ?? 'https://fake-acme.invalid';
    this.ariRetryAfterSeconds = options.ariRetryAfterSeconds ?? 6 * 3600;
    this.explanationUrl = options.explanationUrl ?? 'https://letsencrypt.org/docs/revoking/';

    // A root and an intermediate, as Let's Encrypt's chains are (EC P-256 for speed).
    const notBefore = new Date(Date.parse('2020-01-01T00:00:00Z'));
    const notAfter = new Date(Date.parse('2040-01-01T00:00:00Z'));
    const root = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const intermediate = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.rootKey = root.privateKey;
    this.intermediateKey = intermediate.privateKey;
    const rootKeyId = keyId(root.publicKey);
    this.intermediateKeyId = keyId(intermediate.publicKey);
    const caExtensions = (subjectKeyId: Buffer, authorityKeyId?: Buffer) => [
      extension('2.5.29.19', true, seq(bool(true))),
      extension('2.5.29.15', true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
      extension('2.5.29.14', false, octets(subjectKeyId)),
      ...(authorityKeyId ? [extension('2.5.29.35', false, seq(tlv(0x80, authorityKeyId)))] : []),
    ];
    this.rootPem = toPem(
      certificate(
        { serial: randomSerial(), issuer: name('Fake LE Root X1'), subject: name('Fake LE Root X1'), notBefore, notAfter, publicKey: root.publicKey, extensions: caExtensions(rootKeyId) },
        this.rootKey,
      ),
    );
    this.intermediatePem = toPem(
      certificate(
        {
          serial: randomSerial(),
          issuer: name('Fake LE Root X1'),
          subject: name('Fake LE E9'),
          notBefore,
          notAfter,
          publicKey: intermediate.publicKey,
          extensions: caExtensions(this.intermediateKeyId, rootKeyId),
        },
        this.rootKey,
      ),
    );
  }

  // ---- CertificateIssuer ----------------------------------------------------

  async issue(req: IssueRequest, hooks: IssueHooks): Promise<IssuedCertificate> {
    if (hooks.signal?.aborted) throw new AcmeError('ACME issuance aborted', { cause: hooks.signal.reason });
    this.throwIfDown('newOrder');
    const profile = this.resolveProfile(req.profile);
    const keys = req.keys ?? (await newKeyAndCsr(req.domain, req.keyType));
    const identifiers = [req.domain.toLowerCase(), `*.${req.domain.toLowerCase()}`];
    const now = this.clock.now();

    // The replaced certificate must exist, be unreplaced and name one of ours;
    // AcmeIssuer then orders again without `replaces` (acme.ts createOrder).
    // A CA without ARI knows no `replaces` (RFC 9773 §5).
    const replaced = req.replaces && this.ari ? this.byCertId.get(req.replaces) : undefined;
    const replacesAccepted = replaced !== undefined && replaced.replacedBy === undefined && replaced.identifiers.some((i) => identifiers.includes(i));
    const ariRenewal = replacesAccepted && this.windowAt(replaced, now).start.getTime() <= now.getTime();
    if (!ariRenewal) this.checkNewOrderLimits(identifiers, now);

    const url = `${this.origin}/acme/order/1/${++this.orderSeq}`;
    const order: FakeOrder = {
      url,
      domain: req.domain.toLowerCase(),
      identifiers,
      profile,
      replaces: replacesAccepted ? req.replaces : undefined,
      ariRenewal,
      status: 'pending',
      createdAt: now,
      expires: new Date(now.getTime() + 7 * DAY),
      challenges: identifiers.map((identifier) => ({ identifier, value: randomBytes(32).toString('base64url'), status: 'pending' })),
    };
    this.orders.set(url, order);
    this.stats.newOrders++;
    if (!ariRenewal) this.spend(this.limits.newOrdersPerAccount, 'account', now);
    if (replacesAccepted && replaced) replaced.replacedBy = url;
    await hooks.onOrderCreated?.({ orderUrl: url, ...(order.replaces ? { replaces: order.replaces } : {}) });
    if (this.faults.failAfterOrderCreated > 0) {
      this.faults.failAfterOrderCreated--;
      this.stats.faults++;
      throw new AcmeNetworkError('authz', 'ECONNRESET');
    }
    return this.complete(order, req, keys, hooks);
  }

  async resume(orderUrl: string, req: IssueRequest & { keys: KeyAndCsr }, hooks: IssueHooks): Promise<IssuedCertificate> {
    this.throwIfDown('order');
    const order = this.orders.get(orderUrl);
    if (!order) throw new AcmeOrderGoneError(orderUrl, 'the CA no longer knows the order');
    if (order.status === 'invalid') throw new AcmeOrderGoneError(orderUrl, 'the order is invalid');
    if (order.status !== 'valid' && order.expires.getTime() <= this.clock.now().getTime()) {
      throw new AcmeOrderGoneError(orderUrl, 'the order has expired');
    }
    return this.complete(order, req, req.keys, hooks);
  }

  async renewalInfo(certId: string): Promise<RenewalInfo | undefined> {
    if (!this.ari) return undefined;
    this.throwIfDown('renewalInfo');
    this.stats.renewalInfoRequests++;
    const cert = this.byCertId.get(certId);
    // Boulder answers 404 for a serial it did not issue.
    if (!cert) throw new AcmeOrderError('renewalInfo', 'urn:ietf:params:acme:error:malformed', 'Certificate not found', 404);
    const now = this.clock.now();
    const announced = cert.revocationAnnouncedAt !== undefined && cert.revocationAnnouncedAt.getTime() <= now.getTime();
    return {
      suggestedWindow: this.windowAt(cert, now),
      ...(announced ? { explanationUrl: this.explanationUrl } : {}),
      retryAfterSeconds: this.ariRetryAfterSeconds,
    };
  }

  /**
   * RFC 8555 §7.6 from the account that issued the certificate (this CA has one
   * account): revoked now, and ARI's window moves into the past, as Boulder's
   * RenewalInfoImmediate answers for a revoked serial. A certificate it did not
   * issue is refused as Boulder refuses it (404 "unable to find certificate");
   * one already revoked answers `alreadyRevoked` (RFC 8555 §6.7), which the
   * interface reports as `alreadyRevoked: true`.
   */
  async revoke(certificatePem: string, reason: RevocationReason): Promise<{ alreadyRevoked: boolean }> {
    this.throwIfDown('revokeCert');
    const serial = readCertificate(splitFullchain(certificatePem).leafPem).serial;
    const cert = this.certificates.get(serial);
    if (!cert) throw new AcmeOrderError('revokeCert', 'urn:ietf:params:acme:error:malformed', 'unable to find certificate', 404);
    const now = this.clock.now();
    if (cert.revokedAt && cert.revokedAt.getTime() <= now.getTime()) return { alreadyRevoked: true };
    cert.revokedAt = now;
    cert.revocationAnnouncedAt = now;
    cert.revocationReason = reason;
    return { alreadyRevoked: false };
  }

  // ---- controls for tests and the simulator --------------------------------

  /**
   * Announces through ARI that a certificate will be revoked after `noticeHours`
   * (Let's Encrypt's mass-revocation practice: renewal windows move into the
   * past first). With 0 it is revoked now.
   */
  announceRevocation(serialOrCertId: string, noticeHours = 0): FakeCertificate {
    const cert = this.certificate(serialOrCertId);
    if (!cert) throw new Error(`memory CA: no certificate ${serialOrCertId}`);
    const now = this.clock.now();
    cert.revocationAnnouncedAt = now;
    cert.revokedAt = new Date(now.getTime() + noticeHours * HOUR);
    return cert;
  }

  certificate(serialOrCertId: string): FakeCertificate | undefined {
    return this.certificates.get(serialOrCertId) ?? this.byCertId.get(serialOrCertId);
  }

  isRevoked(serialOrCertId: string, at: Date = this.clock.now()): boolean {
    const revokedAt = this.certificate(serialOrCertId)?.revokedAt;
    return revokedAt !== undefined && revokedAt.getTime() <= at.getTime();
  }

  /** Certificates issued for a domain, oldest first. */
  certificatesFor(domain: string): FakeCertificate[] {
    return [...this.certificates.values()].filter((c) => c.domain === domain.toLowerCase());
  }

  ordersFor(domain: string): FakeOrder[] {
    return [...this.orders.values()].filter((o) => o.domain === domain.toLowerCase());
  }

  // ---- internals ------------------------------------------------------------

  private async complete(order: FakeOrder, req: IssueRequest, keys: KeyAndCsr, hooks: IssueHooks): Promise<IssuedCertificate> {
    if (order.status === 'pending') await this.validate(order, req, hooks);
    if (order.status === 'ready') {
      this.throwIfDown('finalize');
      this.finalize(order, keys.csrPem);
    }
    const cert = order.certificateSerial ? this.certificates.get(order.certificateSerial) : undefined;
    if (!cert) throw new AcmeOrderError('certificate download', 'about:blank', 'the valid order has no certificate URL');
    const info = readCertificate(splitFullchain(cert.fullchainPem).leafPem);
    // The key the certificate was issued for is the order's key (one key parse, not a certificate parse as well).
    if (!createPublicKey(keys.privateKeyPem).export({ type: 'spki', format: 'der' }).equals(cert.spki)) {
      throw new AcmeOrderError('certificate download', 'about:blank', `the CA returned a certificate that does not match the order for ${req.domain}`);
    }
    return {
      privateKeyPem: keys.privateKeyPem,
      csrPem: keys.csrPem,
      fullchainPem: cert.fullchainPem,
      serial: info.serial,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      certId: info.certId,
      orderUrl: order.url,
      replacesAccepted: order.replaces !== undefined,
    };
  }

  private async validate(order: FakeOrder, req: IssueRequest, hooks: IssueHooks): Promise<void> {
    this.throwIfDown('challenge');
    const values = [...new Set(order.challenges.map((c) => c.value))];
    let published: PublishedChallenge | undefined;
    try {
      await hooks.publisher.clearStale(req.domain, req.zone);
      published = await hooks.publisher.publish(req.domain, req.zone, values);
      const now = this.clock.now();
      const fqdn = challengeName(order.domain);
      const seen = this.dns.resolveTxt(fqdn);
      for (const challenge of order.challenges) {
        challenge.status = seen.includes(challenge.value) ? 'valid' : 'invalid';
      }
      const failed = order.challenges.find((c) => c.status === 'invalid');
      if (failed) {
        order.status = 'invalid';
        this.stats.failedValidations++;
        for (const c of order.challenges.filter((x) => x.status === 'invalid')) {
          this.spend(this.limits.failedAuthorizationsPerIdentifier, c.identifier, now);
        }
        // Boulder va/dns.go wording.
        const [type, detail] =
          seen.length === 0
            ? ['urn:ietf:params:acme:error:dns', `DNS problem: NXDOMAIN looking up TXT for ${fqdn} - check that a DNS record exists for this domain`]
            : ['urn:ietf:params:acme:error:unauthorized', `Incorrect TXT record "${seen[0]}" found at ${fqdn}`];
        throw new AcmeValidationError(failed.identifier, type, detail);
      }
      order.status = 'ready';
    } finally {
      if (published) await hooks.publisher.cleanup(published).catch(() => undefined);
    }
  }

  private finalize(order: FakeOrder, csrPem: string): void {
    const now = this.clock.now();
    const csr = readCsr(csrPem);
    const wanted = [...order.identifiers].sort();
    if (csr.dnsNames.length > 0 && [...new Set(csr.dnsNames)].sort().join(',') !== wanted.join(',')) {
      // Boulder ra.go: "CSR does not specify same identifiers as Order".
      throw new AcmeOrderError('finalize', 'urn:ietf:params:acme:error:badCSR', 'CSR does not specify same identifiers as Order', 400);
    }
    const fqdnSet = wanted.join(',');
    const isRenewal = this.fqdnSetsIssued.has(fqdnSet);
    if (!order.ariRenewal) {
      this.spend(this.limits.certificatesPerFqdnSet, fqdnSet, now);
      if (!isRenewal) this.spend(this.limits.certificatesPerDomain, this.registeredDomain(order.domain), now);
    }
    const notBefore = new Date(Math.floor(now.getTime() / SECOND) * SECOND - HOUR);
    const notAfter = new Date(notBefore.getTime() + lifetimeMs(order.profile, now) - SECOND);
    const serial = randomSerial();
    const der = certificate(
      {
        serial,
        issuer: name('Fake LE E9'),
        subject: name(),
        notBefore,
        notAfter,
        publicKey: csr.spki,
        extensions: [
          extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
          extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // serverAuth
          extension('2.5.29.19', true, seq()),
          extension('2.5.29.35', false, seq(tlv(0x80, this.intermediateKeyId))),
          // Critical because the subject is empty (RFC 5280 §4.2.1.6).
          extension('2.5.29.17', true, seq(...order.identifiers.map((i) => tlv(0x82, Buffer.from(i, 'ascii'))))),
        ],
      },
      this.intermediateKey,
    );
    const leafPem = toPem(der);
    const fullchainPem = `${leafPem}${this.intermediatePem}`;
    const info = readCertificate(leafPem);
    const record: FakeCertificate = {
      serial: info.serial,
      certId: ariCertId(leafPem),
      domain: order.domain,
      identifiers: order.identifiers,
      profile: order.profile,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      fullchainPem,
      spki: csr.spki,
      orderUrl: order.url,
      ...(order.replaces ? { replaces: order.replaces } : {}),
    };
    this.certificates.set(record.serial, record);
    this.byCertId.set(record.certId, record);
    this.fqdnSetsIssued.add(fqdnSet);
    this.stats.issued++;
    order.status = 'valid';
    order.certificateSerial = record.serial;
  }

  private windowAt(cert: FakeCertificate, now: Date): { start: Date; end: Date } {
    if (cert.revocationAnnouncedAt && cert.revocationAnnouncedAt.getTime() <= now.getTime()) {
      const start = now.getTime() - HOUR;
      return { start: new Date(start), end: new Date(start + 30 * 60 * SECOND) };
    }
    return simpleWindow(cert.notBefore, cert.notAfter);
  }

  private resolveProfile(requested: string | undefined): Profile {
    if (!requested) return this.defaultProfile;
    if (!(this.profiles as readonly string[]).includes(requested)) throw new AcmeProfileError(requested, [...this.profiles]);
    return requested as Profile;
  }

  private throwIfDown(endpoint: string): void {
    const fault = drawFault(this.faults, this.clock.now(), this.random);
    if (!fault) return;
    this.stats.faults++;
    // After AcmeIssuer's bounded retries, an unreachable CA is a network error,
    // and a failing one a serverInternal problem (RFC 8555 §6.7).
    if (fault === 'outage') throw new AcmeNetworkError(endpoint, 'ECONNREFUSED');
    throw new AcmeOrderError(endpoint, 'urn:ietf:params:acme:error:serverInternal', 'The server experienced an internal error', 500);
  }

  /** Boulder's checks at newOrder (wfe.go checkNewOrderLimits): every limit the order would spend. */
  private checkNewOrderLimits(identifiers: string[], now: Date): void {
    const fqdnSet = [...identifiers].sort().join(',');
    const registered = this.registeredDomain(identifiers[0] as string);
    const checks: Array<[Limit, string]> = [
      [this.limits.newOrdersPerAccount, 'account'],
      ...identifiers.map((i): [Limit, string] => [this.limits.failedAuthorizationsPerIdentifier, i]),
      [this.limits.certificatesPerFqdnSet, fqdnSet],
      ...(this.fqdnSetsIssued.has(fqdnSet) ? [] : [[this.limits.certificatesPerDomain, registered] as [Limit, string]]),
    ];
    for (const [limit, key] of checks) {
      const retryAt = this.wouldExceed(limit, key, now);
      if (retryAt === undefined) continue;
      const detail = this.limitDetail(limit, key, identifiers, retryAt);
      this.rejections.push({ at: now, limit: limit.name, key, retryAfter: retryAt, detail });
      throw new AcmeRateLimitedError('newOrder', retryAt, detail);
    }
  }

  /** Boulder ratelimits/utilities.go wording, with the docs anchor it links. */
  private limitDetail(limit: Limit, key: string, identifiers: string[], retryAt: Date): string {
    const period = goDuration(limit.periodMs);
    const retry = `retry after ${retryAt.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC')}`;
    switch (limit.name) {
      case 'newOrdersPerAccount':
        return `too many new orders (${limit.count}) from this account in the last ${period}, ${retry}: see https://letsencrypt.org/docs/rate-limits/#new-orders-per-account`;
      case 'certificatesPerDomain':
        return `too many certificates (${limit.count}) already issued for "${key}" in the last ${period}, ${retry}: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain`;
      case 'certificatesPerFqdnSet':
        return `too many certificates (${limit.count}) already issued for this exact set of identifiers in the last ${period}, ${retry}: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers`;
      case 'failedAuthorizationsPerIdentifier':
        return `too many failed authorizations (${limit.count}) for "${key}" in the last ${period}, ${retry}: see https://letsencrypt.org/docs/rate-limits/#authorization-failures-per-identifier-per-account`;
      default:
        return `rate limited (${identifiers.join(', ')})`;
    }
  }

  /** GCRA (Boulder ratelimits/gcra.go): undefined when one more request fits, else when it will. */
  private wouldExceed(limit: Limit, key: string, now: Date): Date | undefined {
    const interval = limit.periodMs / limit.count;
    const tat = Math.max(this.buckets.get(`${limit.name}:${key}`)?.tat ?? 0, now.getTime());
    const next = tat + interval;
    if (next - now.getTime() <= limit.periodMs) return undefined;
    return new Date(Math.ceil((next - limit.periodMs) / SECOND) * SECOND);
  }

  private spend(limit: Limit, key: string, now: Date): void {
    const id = `${limit.name}:${key}`;
    const tat = Math.max(this.buckets.get(id)?.tat ?? 0, now.getTime());
    this.buckets.set(id, { tat: tat + limit.periodMs / limit.count });
  }
}

function keyId(publicKey: KeyObject): Buffer {
  // RFC 5280 §4.2.1.2 method 1 takes the SHA-1 of the key bits; the SPKI's hash is as unique.
  return createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

function randomSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes;
}


/** Go's time.Duration String(), as Boulder prints periods: `3h0m0s`, `168h0m0s`, `1h0m0s`. */
function goDuration(ms: number): string {
  const total = Math.round(ms / SECOND);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}
