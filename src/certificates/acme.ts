/**
 * The ACME issuer: one account at one CA, issuing `<domain>` + `*.<domain>`
 * certificates with DNS-01, and reading ARI renewal windows.
 *
 * acme-client does the JWS signing, nonces (including badNonce retries) and key
 * authorisations. The protocol steps go through its low-level `api`/`http`
 * objects (acme-internals.ts) rather than its convenience methods, because those
 * turn every problem document into a plain `Error(detail)`, and we need the
 * problem `type`, the HTTP status and the Retry-After header to throw typed
 * errors. Timeouts, retries, metrics and nonces are acme-transport.ts; the
 * documents and error classification acme-schemas.ts; ARI ari.ts.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import acme from 'acme-client';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { accountKeyFromSecret, accountKeyJwk, generateAccountKey } from './account-key.js';
import { configureSharedAxios, readInternals, type ClientInternals, type RawResponse } from './acme-internals.js';
import { POLL_DELAYS_MS, validateAuthorizations } from './acme-authorizations.js';
import { OrderPlacement, type NewOrderPayload } from './acme-orders.js';
import {
  accountSchema,
  headerValue,
  isProblem,
  orderSchema,
  parseDocument,
  problemError,
  problemOf,
  rejectsProfile,
  rejectsReplaces,
  type AcmeOrder,
} from './acme-schemas.js';
import { AcmeTransport, abortedError, pause, type AcmeRequestListener } from './acme-transport.js';
import { fetchRenewalInfo, replacesToSend } from './ari.js';
import { revokeWithAccountKey } from './acme-revoke.js';
import { AcmeAccountMissingError, AcmeError, AcmeOrderError, AcmeOrderGoneError, AcmeProfileError } from './errors.js';
import { newKeyAndCsr, type KeyAndCsr } from './keys.js';
import type { CertificateIssuer, IssueHooks, IssueRequest, IssuedCertificate, RenewalInfo, RevocationReason } from './issuer.js';
import { CertificateParseError, coversDomain, readCertificate, splitFullchain, type CertificateInfo } from './x509.js';

export { accountKeyFromSecret } from './account-key.js';
export * from './errors.js';
export type { AcmeRequestListener } from './acme-transport.js';
export type { IssueRequest, IssueHooks, IssuedCertificate, RenewalInfo, CertificateIssuer } from './issuer.js';

export const DEFAULT_ACME_TIMEOUT_MS = 30_000;

export interface AcmeConnectOptions {
  directoryUrl: string;
  /** PEM (see `accountKeyFromSecret` for other stored forms). */
  accountKeyPem: string;
  logger: Logger;
  clock: Clock;
  /** Per HTTP request; default 30 s. */
  timeoutMs?: number;
  /** Feeds `autotls_acme_requests_total{endpoint,status}`. */
  onRequest?: AcmeRequestListener;
}

export interface AcmeRegisterOptions {
  directoryUrl: string;
  email: string;
  eab?: { kid: string; hmacKey: string };
  /** An existing key to register; a new P-256 key is generated when absent. */
  keyPem?: string;
  timeoutMs?: number;
  onRequest?: AcmeRequestListener;
}

export interface RegisteredAccount {
  accountUrl: string;
  accountKeyPem: string;
  /** The private JWK of the account key (the form stored in the secret). */
  accountKeyJwk: Record<string, unknown>;
}

const POLL_RETRY_AFTER_CAP_MS = 10_000;

function throwIfAborted(signal: AbortSignal | undefined, step: string): void {
  if (signal?.aborted) throw abortedError(step, signal);
}

export class AcmeIssuer implements CertificateIssuer {
  private readonly orders: OrderPlacement;

  private constructor(
    private readonly client: acme.Client,
    private readonly internals: ClientInternals,
    private readonly transport: AcmeTransport,
    private readonly directoryUrl: string,
    private readonly logger: Logger | undefined,
    private readonly clock: Clock,
  ) {
    this.orders = new OrderPlacement(internals.api, transport, { logger, problemError: (step, response) => this.problemError(step, response), readOrder: (url, step) => this.readOrder(url, step) });
  }

  /** Normalises a stored account key (PEM, JWK JSON or `{ "key": JWK }`) to PEM. */
  static readonly accountKeyFromSecret = accountKeyFromSecret;

  private static create(
    directoryUrl: string,
    accountKeyPem: string,
    extra: { logger?: Logger; clock?: Clock; timeoutMs?: number; onRequest?: AcmeRequestListener; eab?: { kid: string; hmacKey: string } },
  ): AcmeIssuer {
    configureSharedAxios();
    const client = new acme.Client({
      directoryUrl,
      accountKey: accountKeyPem,
      ...(extra.eab ? { externalAccountBinding: extra.eab } : {}),
    });
    const internals = readInternals(client, accountKeyPem);
    const clock = extra.clock ?? { now: () => new Date() };
    const transport = new AcmeTransport(internals, {
      directoryUrl,
      logger: extra.logger,
      clock,
      timeoutMs: extra.timeoutMs ?? DEFAULT_ACME_TIMEOUT_MS,
      onRequest: extra.onRequest,
    });
    return new AcmeIssuer(client, internals, transport, directoryUrl, extra.logger, clock);
  }

  /**
   * Connects to the CA with an existing account (`onlyReturnExisting`).
   * Throws AcmeAccountMissingError when the key has no account there.
   */
  static async connect(opts: AcmeConnectOptions): Promise<AcmeIssuer> {
    const issuer = AcmeIssuer.create(opts.directoryUrl, opts.accountKeyPem, opts);
    await issuer.transport.directory();
    const response = await issuer.internals.api.apiResourceRequest('newAccount', { onlyReturnExisting: true }, [], { includeJwsKid: false });
    const problem = problemOf(response);
    if (isProblem(problem, 'accountDoesNotExist')) throw new AcmeAccountMissingError(opts.directoryUrl);
    const accountUrl = headerValue(response.headers, 'location');
    if ((response.status !== 200 && response.status !== 201) || !accountUrl) throw issuer.problemError('account lookup', response);
    issuer.internals.api.accountUrl = accountUrl;
    issuer.orders.ordersUrl = accountSchema.safeParse(response.data).data?.orders;
    opts.logger.debug({ accountUrl, ordersUrl: issuer.orders.ordersUrl }, 'ACME account found');
    return issuer;
  }

  /** Registers a new account (for `autotls account create`), agreeing to the CA's terms. */
  static async register(opts: AcmeRegisterOptions): Promise<RegisteredAccount> {
    const accountKeyPem = opts.keyPem ? accountKeyFromSecret(opts.keyPem) : await generateAccountKey();
    const issuer = AcmeIssuer.create(opts.directoryUrl, accountKeyPem, opts);
    const directory = await issuer.transport.directory();
    if (directory.meta?.externalAccountRequired && !opts.eab) {
      throw new AcmeOrderError('account registration', 'externalAccountRequired', 'this CA requires External Account Binding (EAB kid and HMAC key)');
    }
    const response = await issuer.internals.api.apiResourceRequest(
      'newAccount',
      { termsOfServiceAgreed: true, contact: [`mailto:${opts.email}`] },
      [],
      { includeJwsKid: false, includeExternalAccountBinding: Boolean(opts.eab) },
    );
    const accountUrl = headerValue(response.headers, 'location');
    if ((response.status !== 200 && response.status !== 201) || !accountUrl) throw issuer.problemError('account registration', response);
    return { accountUrl, accountKeyPem, accountKeyJwk: { ...accountKeyJwk(accountKeyPem) } };
  }

  /** The account URL (`kid`) at the CA. */
  get accountUrl(): string {
    return this.client.getAccountUrl();
  }

  /** The directory's advertised profiles (name → description); undefined when it advertises none. */
  async profiles(): Promise<Record<string, unknown> | undefined> {
    return (await this.transport.directory()).meta?.profiles;
  }

  /**
   * Orders, validates (DNS-01, apex and wildcard in one record set) and downloads
   * a certificate for `<domain>` and `*.<domain>` with a new private key (or the
   * one given in `req.keys`, which the caller may have stored first so that a
   * crash after the order can resume it). The challenge record is removed
   * whatever happens. `hooks.signal` cancels every request in flight.
   */
  issue(req: IssueRequest, hooks: IssueHooks): Promise<IssuedCertificate> {
    return this.transport.withSignal(hooks.signal, async () => {
      const { domain } = req;
      throwIfAborted(hooks.signal, 'issuance');
      const profile = await this.resolveProfile(req.profile);
      const keys = req.keys ?? (await newKeyAndCsr(domain, req.keyType));
      throwIfAborted(hooks.signal, 'issuance');

      const { order: created, replacesAccepted } = await this.createOrder(domain, req.replaces, profile);
      this.logger?.info({ domain, orderUrl: created.url, replaces: replacesAccepted ? req.replaces : undefined, profile }, 'ACME order created');
      await hooks.onOrderCreated?.({ orderUrl: created.url, ...(replacesAccepted && req.replaces ? { replaces: req.replaces } : {}) });
      return this.complete(created, req, hooks, keys, replacesAccepted);
    });
  }

  /**
   * Finishes an order created earlier (by a run that crashed) with the key and
   * CSR it was created for: validates what is still pending, finalizes when
   * ready, downloads when valid. Throws AcmeOrderGoneError when the order can no
   * longer give a certificate (expired, invalid, unknown), so the caller orders anew.
   */
  resume(orderUrl: string, req: IssueRequest & { keys: KeyAndCsr }, hooks: IssueHooks): Promise<IssuedCertificate> {
    return this.transport.withSignal(hooks.signal, async () => {
      const response = await this.internals.api.apiRequest(orderUrl, null, []);
      if (response.status === 404) throw new AcmeOrderGoneError(orderUrl, 'the CA no longer knows the order');
      if (response.status !== 200) throw this.problemError('order', response);
      const order: AcmeOrder = { ...parseDocument(orderSchema, response, 'order'), url: orderUrl };
      if (order.status === 'invalid') throw new AcmeOrderGoneError(orderUrl, 'the order is invalid');
      if (order.expires && new Date(order.expires).getTime() <= this.clock.now().getTime() && order.status !== 'valid') {
        throw new AcmeOrderGoneError(orderUrl, 'the order has expired');
      }
      this.logger?.info({ domain: req.domain, orderUrl, status: order.status }, 'resuming an ACME order');
      return this.complete(order, req, hooks, req.keys, false);
    });
  }

  /**
   * The CA's suggested renewal window for a certificate (RFC 9773), or undefined
   * when the directory has no `renewalInfo`. Unauthenticated GET, with the timeout.
   */
  renewalInfo(certId: string, signal?: AbortSignal): Promise<RenewalInfo | undefined> {
    return this.transport.withSignal(signal, async () =>
      fetchRenewalInfo(this.internals.http, await this.transport.directory(), certId, { directoryUrl: this.directoryUrl, clock: this.clock }),
    );
  }

  /**
   * Revokes a certificate this account issued (RFC 8555 §7.6, account key);
   * acme-revoke.ts. `alreadyRevoked` when the CA had revoked it before.
   */
  revoke(certificatePem: string, reason: RevocationReason, signal?: AbortSignal): Promise<{ alreadyRevoked: boolean }> {
    return this.transport.withSignal(signal, async () => {
      await this.transport.directory();
      const result = await revokeWithAccountKey(this.internals.api, certificatePem, reason, (step, response) => this.problemError(step, response));
      this.logger?.info({ reason, alreadyRevoked: result.alreadyRevoked }, 'ACME certificate revoked');
      return result;
    });
  }

  // -------------------------------------------------------------------------

  private async complete(created: AcmeOrder, req: IssueRequest, hooks: IssueHooks, keys: KeyAndCsr, replacesAccepted: boolean): Promise<IssuedCertificate> {
    const { domain } = req;
    const { privateKeyPem, csrPem } = keys;
    if (created.status === 'pending') {
      await validateAuthorizations(created, req, hooks, {
        client: this.client,
        api: this.internals.api,
        logger: this.logger,
        problemError: (step, response) => this.problemError(step, response),
      });
      throwIfAborted(hooks.signal, 'order validation');
    }
    let order = created.status === 'valid' ? created : await this.pollOrder(created.url, ['ready', 'valid'], 'order validation', hooks.signal);
    if (order.status === 'ready') {
      await this.orders.finalize(order, csrPem);
      order = await this.pollOrder(created.url, ['valid'], 'certificate issuance', hooks.signal);
    }
    if (!order.certificate) throw new AcmeOrderError('certificate download', 'about:blank', 'the valid order has no certificate URL');

    const download = await this.internals.api.apiRequest(order.certificate, null, []);
    if (download.status !== 200 || typeof download.data !== 'string') throw this.problemError('certificate download', download);
    const fullchainPem = download.data;
    const info = readIssued(fullchainPem, domain, privateKeyPem);
    this.logger?.info({ domain, orderUrl: created.url, serial: info.serial, notAfter: info.notAfter.toISOString() }, 'ACME certificate issued');
    return {
      privateKeyPem,
      csrPem,
      fullchainPem,
      serial: info.serial,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      certId: info.certId,
      orderUrl: created.url,
      replacesAccepted,
    };
  }

  /**
   * The profile to order with. One the directory does not list is looked up
   * again in a fresh directory (Let's Encrypt adds profiles), then refused with
   * an AcmeProfileError naming it and the profiles on offer.
   */
  private async resolveProfile(requested: string | undefined): Promise<string | undefined> {
    if (!requested) return undefined;
    let offered = (await this.transport.directory()).meta?.profiles;
    if (offered !== undefined && !Object.hasOwn(offered, requested)) offered = (await this.transport.directory(true)).meta?.profiles;
    if (offered === undefined) {
      this.logger?.warn({ profile: requested, directoryUrl: this.directoryUrl }, 'ACME profile requested but the CA advertises no profiles; ordering without one');
      return undefined;
    }
    if (!Object.hasOwn(offered, requested)) throw new AcmeProfileError(requested, Object.keys(offered));
    return requested;
  }

  private async createOrder(domain: string, replaces: string | undefined, profile: string | undefined): Promise<{ order: AcmeOrder; replacesAccepted: boolean }> {
    const directory = await this.transport.directory();
    const payload: NewOrderPayload = {
      identifiers: [
        { type: 'dns', value: domain },
        { type: 'dns', value: `*.${domain}` },
      ],
      ...(profile ? { profile } : {}),
    };
    const withReplaces = replacesToSend(directory, replaces, this.logger);

    let placed = await this.orders.place(withReplaces ? { ...payload, replaces: withReplaces } : payload);
    let replacesAccepted = Boolean(withReplaces);
    if ('response' in placed && placed.response.status !== 201 && withReplaces && rejectsReplaces(problemOf(placed.response))) {
      const problem = problemOf(placed.response);
      this.logger?.warn({ domain, replaces, problemType: problem?.type, detail: problem?.detail }, 'CA rejected the ARI replaces field; ordering again without it');
      placed = await this.orders.place(payload);
      replacesAccepted = false;
    }
    if ('order' in placed) return { order: placed.order, replacesAccepted };
    const { response } = placed;
    if (response.status !== 201 && profile && rejectsProfile(problemOf(response))) {
      // The directory changed under us: refuse with what it offers now.
      const offered = (await this.transport.directory(true)).meta?.profiles ?? {};
      throw new AcmeProfileError(profile, Object.keys(offered));
    }
    if (response.status !== 201) throw this.problemError('newOrder', response);
    const url = headerValue(response.headers, 'location');
    if (!url) throw new AcmeOrderError('newOrder', 'about:blank', 'the CA returned no order URL');
    return { order: { ...parseDocument(orderSchema, response, 'newOrder'), url }, replacesAccepted };
  }

  private async readOrder(url: string, step: string): Promise<AcmeOrder> {
    return (await this.fetchOrder(url, step)).order;
  }

  private async fetchOrder(url: string, step: string): Promise<{ order: AcmeOrder; response: RawResponse }> {
    const response = await this.internals.api.apiRequest(url, null, []);
    if (response.status !== 200) throw this.problemError(step, response);
    return { order: { ...parseDocument(orderSchema, response, step), url }, response };
  }

  private async pollOrder(url: string, wanted: string[], step: string, signal: AbortSignal | undefined): Promise<AcmeOrder> {
    for (let attempt = 0; ; attempt += 1) {
      throwIfAborted(signal, step);
      const { order, response } = await this.fetchOrder(url, step);
      if (wanted.includes(order.status)) return order;
      if (order.status === 'invalid') {
        const problem = order.error ?? { type: 'about:blank', detail: 'the order became invalid' };
        throw new AcmeOrderError(step, problem.type, problem.detail);
      }
      const hinted = this.transport.retryAfterMs(response);
      const base = POLL_DELAYS_MS[attempt];
      if (base === undefined) throw new AcmeOrderError(step, 'autotls:timeout', `the order stayed "${order.status}" for too long`);
      const delay = hinted !== undefined ? Math.min(Math.max(hinted, base), POLL_RETRY_AFTER_CAP_MS) : base;
      await pause(delay, signal, step);
    }
  }

  private problemError(step: string, response: RawResponse): AcmeError {
    return problemError(step, response, { directoryUrl: this.directoryUrl, now: this.clock.now() });
  }
}

/**
 * Reads the downloaded certificate, and never hands on one that would not
 * serve: wrong names or another key. Errors name the step.
 */
function readIssued(fullchainPem: string, domain: string, privateKeyPem: string): CertificateInfo {
  let info: CertificateInfo;
  let leafPem: string;
  try {
    leafPem = splitFullchain(fullchainPem).leafPem;
    info = readCertificate(leafPem);
  } catch (error) {
    if (error instanceof CertificateParseError) throw new AcmeError(`reading the issued certificate: ${error.message}`, { cause: error });
    throw error;
  }
  if (!coversDomain(info, domain) || !coversDomain(info, `www.${domain}`) || !new X509Certificate(leafPem).checkPrivateKey(createPrivateKey(privateKeyPem))) {
    throw new AcmeOrderError('certificate download', 'about:blank', `the CA returned a certificate that does not match the order for ${domain}`);
  }
  return info;
}
