/**
 * The ACME issuer: one account at one CA, issuing `<domain>` + `*.<domain>`
 * certificates with DNS-01, and reading ARI renewal windows.
 *
 * acme-client does the JWS signing, nonces (including badNonce retries) and key
 * authorisations. The protocol steps go through its low-level `api`/`http`
 * objects rather than its convenience methods, because those turn every problem
 * document into a plain `Error(detail)`, and we need the problem `type`, the
 * HTTP status and the Retry-After header to throw typed errors.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRetryAfter } from '../util/retry.js';
import { safeJson } from '../util/json.js';
import acme from 'acme-client';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { PublishedChallenge } from '../dns/challenge.js';
import type { Logger } from '../logger.js';
import { accountKeyFromSecret, accountKeyJwk, generateAccountKey } from './account-key.js';
import {
  ACME_ERROR_PREFIX,
  AcmeAccountMissingError,
  AcmeError,
  AcmeNetworkError,
  AcmeOrderError,
  AcmeOrderGoneError,
  AcmeProfileError,
  AcmeRateLimitedError,
  AcmeValidationError,
  type AcmeProblem,
} from './errors.js';
import { newKeyAndCsr, type KeyAndCsr } from './keys.js';
import type { CertificateIssuer, IssueHooks, IssueRequest, IssuedCertificate, RenewalInfo } from './issuer.js';
import { ariCertId, coversDomain, readCertificate, splitFullchain } from './x509.js';

export { accountKeyFromSecret } from './account-key.js';
export * from './errors.js';
export type { IssueRequest, IssueHooks, IssuedCertificate, RenewalInfo, CertificateIssuer } from './issuer.js';

export const DEFAULT_ACME_TIMEOUT_MS = 30_000;

/** Reports every HTTP exchange with the CA; `status` is 0 when no response came back. */
export type AcmeRequestListener = (endpoint: string, status: number) => void;

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

// ---------------------------------------------------------------------------
// acme-client internals we rely on (node_modules/acme-client/src/{http,api}.js, v5.4)

interface RawResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}

interface RequestOptions {
  timeout?: number;
  [key: string]: unknown;
}

interface AcmeHttpInternals {
  /** PEM buffer as acme-client stores it; replaced by a parsed KeyObject (see create). */
  accountKey: Buffer | KeyObject;
  request(url: string, method: string, opts?: RequestOptions): Promise<RawResponse>;
  getDirectory(): Promise<unknown>;
  getNonce(): Promise<string>;
}

interface AcmeApiInternals {
  accountUrl: string | null;
  apiRequest(url: string, payload: unknown, validStatusCodes: number[], opts?: { includeJwsKid?: boolean }): Promise<RawResponse>;
  apiResourceRequest(
    resource: string,
    payload: unknown,
    validStatusCodes: number[],
    opts?: { includeJwsKid?: boolean; includeExternalAccountBinding?: boolean },
  ): Promise<RawResponse>;
}

interface ClientInternals {
  http: AcmeHttpInternals;
  api: AcmeApiInternals;
}

interface AcmeAxiosDefaults {
  acmeSettings?: { retryMaxAttempts: number; retryDefaultDelay: number };
}

interface InterceptorHandlers {
  handlers?: Array<{ rejected?: ((error: unknown) => unknown) | null } | null>;
}

const patchedHandlers = new WeakSet<object>();

function hasResponse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { response?: unknown }).response !== undefined;
}

/**
 * acme-client's shared axios instance retries 429 and 5xx, sleeping for as long
 * as Retry-After says (hours, for a rate limit). We switch that off: a 429 must
 * reach us as a response so it becomes an AcmeRateLimitedError, and our own
 * bounded retry (below) handles transient failures.
 *
 * Its error interceptor also turns every failure without a response (timeout,
 * refused connection) into a TypeError once retries are exhausted (it calls
 * `validateStatus(undefined)`), losing the error code. Errors without a response
 * therefore bypass it; responses still go through it unchanged.
 */
function configureSharedAxios(): void {
  const defaults = acme.axios.defaults as unknown as AcmeAxiosDefaults;
  if (defaults.acmeSettings) defaults.acmeSettings.retryMaxAttempts = 0;
  const manager = acme.axios.interceptors.response as unknown as InterceptorHandlers;
  for (const handler of manager.handlers ?? []) {
    const rejected = handler?.rejected;
    if (!handler || !rejected || patchedHandlers.has(handler)) continue;
    handler.rejected = (error: unknown) => (hasResponse(error) ? rejected(error) : Promise.reject(error));
    patchedHandlers.add(handler);
  }
}

// ---------------------------------------------------------------------------
// Response shapes (only what we use)

const problemSchema: z.ZodType<AcmeProblem> = z.object({
  type: z.string().default('about:blank'),
  detail: z.string().default(''),
  status: z.number().optional(),
  get subproblems() {
    return z.array(problemSchema).optional();
  },
});

const directorySchema = z.object({
  newNonce: z.string(),
  newAccount: z.string(),
  newOrder: z.string(),
  revokeCert: z.string().optional(),
  keyChange: z.string().optional(),
  renewalInfo: z.string().optional(),
  meta: z
    .object({
      profiles: z.record(z.string(), z.unknown()).optional(),
      externalAccountRequired: z.boolean().optional(),
    })
    .optional(),
});
type AcmeDirectory = z.infer<typeof directorySchema>;

const orderSchema = z.object({
  status: z.string(),
  authorizations: z.array(z.string()).default([]),
  finalize: z.string(),
  certificate: z.string().optional(),
  expires: z.string().optional(),
  error: problemSchema.optional(),
});
type AcmeOrder = z.infer<typeof orderSchema> & { url: string };

const challengeSchema = z.object({
  type: z.string(),
  url: z.string(),
  status: z.string(),
  token: z.string().optional(),
  error: problemSchema.optional(),
});

const authorizationSchema = z.object({
  status: z.string(),
  identifier: z.object({ type: z.string(), value: z.string() }),
  wildcard: z.boolean().optional(),
  challenges: z.array(challengeSchema).default([]),
});
type AcmeAuthorization = z.infer<typeof authorizationSchema> & { url: string };

const renewalInfoSchema = z.object({
  suggestedWindow: z.object({ start: z.string(), end: z.string() }),
  explanationURL: z.string().optional(),
});

// ---------------------------------------------------------------------------

const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_CANCELED', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ERR_NETWORK']);
const TRANSIENT_STATUSES = new Set([500, 502, 503, 504]);
/** Delays before the 2nd and 3rd attempt of a request that failed transiently. */
const TRANSIENT_RETRY_DELAYS_MS = [500, 2_000];

/** Status polling: short first (Pebble and Let's Encrypt usually finish in ~1 s), then every 5 s; ~2 minutes in all. */
const POLL_DELAYS_MS = [250, 500, 1_000, 2_000, 3_000, ...Array<number>(22).fill(5_000)];
const POLL_RETRY_AFTER_CAP_MS = 10_000;

const DIRECTORY_RESOURCES = ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'] as const;

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return 'no response';
}

function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

function problemOf(response: RawResponse): AcmeProblem | undefined {
  const parsed = problemSchema.safeParse(response.data);
  if (!parsed.success || (parsed.data.type === 'about:blank' && parsed.data.detail === '')) return undefined;
  return parsed.data;
}

function isProblem(problem: AcmeProblem | undefined, short: string): boolean {
  return problem?.type === `${ACME_ERROR_PREFIX}${short}`;
}

/** The CA refused the `replaces` field itself (as opposed to the order). */
function rejectsReplaces(problem: AcmeProblem | undefined): boolean {
  if (!problem) return false;
  if (isProblem(problem, 'alreadyReplaced')) return true;
  const aboutReplacedCertificate = /replace|ari|certid|serial/i.test(problem.detail);
  return aboutReplacedCertificate && (isProblem(problem, 'malformed') || isProblem(problem, 'unauthorized') || isProblem(problem, 'conflict'));
}

/** Endpoint label for metrics: the directory resource name, or the kind of object URL. */
function endpointKind(url: string, directoryUrl: string, directory: AcmeDirectory | undefined): string {
  if (url === directoryUrl) return 'directory';
  if (directory) {
    for (const resource of DIRECTORY_RESOURCES) if (directory[resource] === url) return resource;
    if (directory.renewalInfo && url.startsWith(directory.renewalInfo)) return 'renewalInfo';
  }
  // Object URLs are opaque, but every CA we know names them recognisably
  // (Let's Encrypt: /acme/authz/, /acme/chall/, /acme/finalize/, /acme/cert/;
  // Pebble: /authZ/, /chalZ/, /finalize-order/, /certZ/).
  const path = (() => {
    try {
      return new URL(url).pathname.toLowerCase();
    } catch {
      return url.toLowerCase();
    }
  })();
  if (path.includes('renewal')) return 'renewalInfo';
  if (path.includes('authz')) return 'authz';
  if (path.includes('chal')) return 'chall';
  if (path.includes('finalize')) return 'finalize';
  if (path.includes('cert')) return 'cert';
  if (path.includes('order')) return 'order';
  if (path.includes('acct') || path.includes('account') || path.includes('reg')) return 'account';
  return 'other';
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AcmeError('ACME issuance aborted', { cause: signal.reason });
}

/** Waits `ms`, or rejects with an AcmeError as soon as `signal` aborts. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    throw new AcmeError('ACME issuance aborted', { cause: signal?.reason ?? error });
  }
}

/** Unused Replay-Nonce values kept per client; more would only go stale. */
const NONCE_POOL_SIZE = 8;

export class AcmeIssuer implements CertificateIssuer {
  private directoryCache: AcmeDirectory | undefined;
  /** Replay-Nonce values from earlier responses (RFC 8555 §7.2), so most POSTs need no newNonce round trip. */
  private readonly nonces: string[] = [];

  private constructor(
    private readonly client: acme.Client,
    private readonly internals: ClientInternals,
    private readonly directoryUrl: string,
    private readonly logger: Logger | undefined,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly onRequest: AcmeRequestListener | undefined,
  ) {
    this.instrument();
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
    const internals = client as unknown as ClientInternals;
    // acme-client parses the PEM account key again for every signed request (about a
    // sixth of a run's CPU in bench/); node:crypto signs with a parsed KeyObject as well.
    internals.http.accountKey = createPrivateKey(accountKeyPem);
    return new AcmeIssuer(
      client,
      internals,
      directoryUrl,
      extra.logger,
      extra.clock ?? { now: () => new Date() },
      extra.timeoutMs ?? DEFAULT_ACME_TIMEOUT_MS,
      extra.onRequest,
    );
  }

  /**
   * Connects to the CA with an existing account (`onlyReturnExisting`).
   * Throws AcmeAccountMissingError when the key has no account there.
   */
  static async connect(opts: AcmeConnectOptions): Promise<AcmeIssuer> {
    const issuer = AcmeIssuer.create(opts.directoryUrl, opts.accountKeyPem, opts);
    await issuer.directory();
    const response = await issuer.internals.api.apiResourceRequest('newAccount', { onlyReturnExisting: true }, [], { includeJwsKid: false });
    const problem = problemOf(response);
    if (isProblem(problem, 'accountDoesNotExist')) throw new AcmeAccountMissingError(opts.directoryUrl);
    const accountUrl = headerValue(response.headers, 'location');
    if ((response.status !== 200 && response.status !== 201) || !accountUrl) throw issuer.problemError('account lookup', response);
    issuer.internals.api.accountUrl = accountUrl;
    opts.logger.debug({ accountUrl }, 'ACME account found');
    return issuer;
  }

  /** Registers a new account (for `autotls account create`), agreeing to the CA's terms. */
  static async register(opts: AcmeRegisterOptions): Promise<RegisteredAccount> {
    const accountKeyPem = opts.keyPem ? accountKeyFromSecret(opts.keyPem) : await generateAccountKey();
    const issuer = AcmeIssuer.create(opts.directoryUrl, accountKeyPem, opts);
    const directory = await issuer.directory();
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
    return (await this.directory()).meta?.profiles;
  }

  /**
   * Orders, validates (DNS-01, apex and wildcard in one record set) and downloads
   * a certificate for `<domain>` and `*.<domain>` with a new private key (or the
   * one given in `req.keys`, which the caller may have stored first so that a
   * crash after the order can resume it). The challenge record is removed
   * whatever happens.
   */
  async issue(req: IssueRequest, hooks: IssueHooks): Promise<IssuedCertificate> {
    const { domain } = req;
    const log = this.logger?.child({ domain });
    throwIfAborted(hooks.signal);
    const profile = await this.resolveProfile(req.profile);
    const keys = req.keys ?? (await newKeyAndCsr(domain, req.keyType));
    throwIfAborted(hooks.signal);

    const { order: created, replacesAccepted } = await this.createOrder(domain, req.replaces, profile);
    log?.info({ orderUrl: created.url, replaces: replacesAccepted ? req.replaces : undefined, profile }, 'ACME order created');
    await hooks.onOrderCreated?.({ orderUrl: created.url, ...(replacesAccepted && req.replaces ? { replaces: req.replaces } : {}) });
    return this.complete(created, req, hooks, keys, replacesAccepted);
  }

  /**
   * Finishes an order created earlier (by a run that crashed) with the key and
   * CSR it was created for: validates what is still pending, finalizes when
   * ready, downloads when valid. Throws AcmeOrderGoneError when the order can no
   * longer give a certificate (expired, invalid, unknown), so the caller orders anew.
   */
  async resume(orderUrl: string, req: IssueRequest & { keys: KeyAndCsr }, hooks: IssueHooks): Promise<IssuedCertificate> {
    const response = await this.internals.api.apiRequest(orderUrl, null, []);
    if (response.status === 404) throw new AcmeOrderGoneError(orderUrl, 'the CA no longer knows the order');
    if (response.status !== 200) throw this.problemError('order', response);
    const order = { ...this.parse(orderSchema, response, 'order'), url: orderUrl };
    if (order.status === 'invalid') throw new AcmeOrderGoneError(orderUrl, 'the order is invalid');
    if (order.expires && new Date(order.expires).getTime() <= this.clock.now().getTime() && order.status !== 'valid') {
      throw new AcmeOrderGoneError(orderUrl, 'the order has expired');
    }
    this.logger?.info({ domain: req.domain, orderUrl, status: order.status }, 'resuming an ACME order');
    return this.complete(order, req, hooks, req.keys, false);
  }

  private async complete(created: AcmeOrder, req: IssueRequest, hooks: IssueHooks, keys: KeyAndCsr, replacesAccepted: boolean): Promise<IssuedCertificate> {
    const { domain } = req;
    const { privateKeyPem, csrPem } = keys;
    if (created.status === 'pending') {
      await this.validateAuthorizations(created, req, hooks);
      throwIfAborted(hooks.signal);
    }
    let order = created.status === 'valid' ? created : await this.pollOrder(created.url, ['ready', 'valid'], 'order validation', hooks.signal);
    if (order.status === 'ready') {
      const response = await this.internals.api.apiRequest(order.finalize, { csr: acme.crypto.getPemBodyAsB64u(csrPem) }, []);
      if (response.status !== 200) throw this.problemError('finalize', response);
      order = await this.pollOrder(created.url, ['valid'], 'certificate issuance', hooks.signal);
    }
    if (!order.certificate) throw new AcmeOrderError('certificate download', 'about:blank', 'the valid order has no certificate URL');

    const download = await this.internals.api.apiRequest(order.certificate, null, []);
    if (download.status !== 200 || typeof download.data !== 'string') throw this.problemError('certificate download', download);
    const fullchainPem = download.data;
    const { leafPem } = splitFullchain(fullchainPem);
    const info = readCertificate(leafPem);
    // Never hand on a certificate that would not serve: wrong names or another key.
    if (!coversDomain(info, domain) || !coversDomain(info, `www.${domain}`) || !new X509Certificate(leafPem).checkPrivateKey(createPrivateKey(privateKeyPem))) {
      throw new AcmeOrderError('certificate download', 'about:blank', `the CA returned a certificate that does not match the order for ${domain}`);
    }
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
   * The CA's suggested renewal window for a certificate (RFC 9773), or undefined
   * when the directory has no `renewalInfo`. Unauthenticated GET, with the timeout.
   */
  async renewalInfo(certPem: string): Promise<RenewalInfo | undefined> {
    const base = (await this.directory()).renewalInfo;
    if (!base) return undefined;
    const url = `${base.replace(/\/+$/, '')}/${ariCertId(certPem)}`;
    const response = await this.internals.http.request(url, 'get');
    if (response.status !== 200) throw this.problemError('renewalInfo', response);
    const parsed = renewalInfoSchema.safeParse(typeof response.data === 'string' ? safeJson(response.data) : response.data);
    if (!parsed.success) throw new AcmeOrderError('renewalInfo', 'about:blank', 'the CA answered with an unreadable RenewalInfo object');
    const start = new Date(parsed.data.suggestedWindow.start);
    const end = new Date(parsed.data.suggestedWindow.end);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() <= start.getTime()) {
      // RFC 9773 §4.2: treat as if no response was received.
      throw new AcmeOrderError('renewalInfo', 'about:blank', 'the CA answered with an invalid suggested window');
    }
    const retryAfterSeconds = parseRetryAfter(headerValue(response.headers, 'retry-after'), this.clock.now());
    return {
      suggestedWindow: { start, end },
      ...(parsed.data.explanationURL ? { explanationUrl: parsed.data.explanationURL } : {}),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    };
  }

  // -------------------------------------------------------------------------

  private async directory(): Promise<AcmeDirectory> {
    if (this.directoryCache) return this.directoryCache;
    let raw: unknown;
    try {
      raw = await this.internals.http.getDirectory();
    } catch (error) {
      if (error instanceof AcmeError) throw error;
      throw new AcmeOrderError('directory', 'about:blank', `could not read the ACME directory at ${this.directoryUrl}`);
    }
    const parsed = directorySchema.safeParse(raw);
    if (!parsed.success) throw new AcmeOrderError('directory', 'about:blank', `${this.directoryUrl} is not an ACME directory`);
    this.directoryCache = parsed.data;
    return parsed.data;
  }

  private async resolveProfile(requested: string | undefined): Promise<string | undefined> {
    if (!requested) return undefined;
    const offered = (await this.directory()).meta?.profiles;
    if (offered === undefined) {
      this.logger?.warn({ profile: requested, directoryUrl: this.directoryUrl }, 'ACME profile requested but the CA advertises no profiles; ordering without one');
      return undefined;
    }
    if (!Object.hasOwn(offered, requested)) throw new AcmeProfileError(requested, Object.keys(offered));
    return requested;
  }

  private async createOrder(domain: string, replaces: string | undefined, profile: string | undefined): Promise<{ order: AcmeOrder; replacesAccepted: boolean }> {
    const identifiers = [
      { type: 'dns', value: domain },
      { type: 'dns', value: `*.${domain}` },
    ];
    const send = (withReplaces: boolean) =>
      this.internals.api.apiResourceRequest('newOrder', { identifiers, ...(withReplaces && replaces ? { replaces } : {}), ...(profile ? { profile } : {}) }, []);

    let response = await send(true);
    let replacesAccepted = Boolean(replaces);
    if (response.status !== 201 && replaces && rejectsReplaces(problemOf(response))) {
      const problem = problemOf(response);
      this.logger?.warn({ domain, replaces, problemType: problem?.type, detail: problem?.detail }, 'CA rejected the ARI replaces field; ordering again without it');
      response = await send(false);
      replacesAccepted = false;
    }
    if (response.status !== 201) throw this.problemError('newOrder', response);
    const url = headerValue(response.headers, 'location');
    if (!url) throw new AcmeOrderError('newOrder', 'about:blank', 'the CA returned no order URL');
    return { order: { ...this.parse(orderSchema, response, 'newOrder'), url }, replacesAccepted };
  }

  private async validateAuthorizations(order: AcmeOrder, req: IssueRequest, hooks: IssueHooks): Promise<void> {
    const authorizations = await Promise.all(order.authorizations.map((url) => this.getAuthorization(url)));
    for (const authz of authorizations) {
      if (authz.status === 'invalid') throw this.validationError(authz);
    }
    const pending = authorizations.filter((a) => a.status === 'pending');
    if (pending.length === 0) return;

    const work = await Promise.all(
      pending.map(async (authz) => {
        const challenge = authz.challenges.find((c) => c.type === 'dns-01');
        if (!challenge?.token) {
          throw new AcmeOrderError('authorization', 'about:blank', `the CA offers no dns-01 challenge for ${authz.identifier.value}`);
        }
        const keyAuthorization = await this.client.getChallengeKeyAuthorization({ type: 'dns-01', url: challenge.url, status: 'pending', token: challenge.token });
        return { authz, challenge, keyAuthorization };
      }),
    );
    // Apex and wildcard both validate at _acme-challenge.<domain>: one record set, both values.
    const values = [...new Set(work.map((w) => w.keyAuthorization))];

    let published: PublishedChallenge | undefined;
    try {
      await hooks.publisher.clearStale(req.domain, req.zone);
      throwIfAborted(hooks.signal);
      published = await hooks.publisher.publish(req.domain, req.zone, values);
      throwIfAborted(hooks.signal);
      for (const { challenge } of work) {
        const response = await this.internals.api.apiRequest(challenge.url, {}, []);
        if (response.status !== 200) throw this.problemError('challenge', response);
      }
      // The first failed authorization ends the wait for the others too.
      const stopPolling = new AbortController();
      const signal = hooks.signal ? AbortSignal.any([hooks.signal, stopPolling.signal]) : stopPolling.signal;
      try {
        await Promise.all(work.map(({ authz }) => this.pollAuthorization(authz.url, signal)));
      } finally {
        stopPolling.abort();
      }
    } finally {
      if (published) {
        try {
          await hooks.publisher.cleanup(published);
        } catch (error) {
          this.logger?.warn({ domain: req.domain, fqdn: published.fqdn, err: error }, 'Could not remove the DNS-01 challenge record');
        }
      }
    }
  }

  private async getAuthorization(url: string): Promise<AcmeAuthorization> {
    const response = await this.internals.api.apiRequest(url, null, []);
    if (response.status !== 200) throw this.problemError('authz', response);
    return { ...this.parse(authorizationSchema, response, 'authz'), url };
  }

  private async pollAuthorization(url: string, signal: AbortSignal | undefined): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const authz = await this.getAuthorization(url);
      if (authz.status === 'valid') return;
      if (authz.status !== 'pending') throw this.validationError(authz);
      const delay = POLL_DELAYS_MS[attempt];
      if (delay === undefined) {
        throw new AcmeOrderError('authorization', 'autotls:timeout', `the CA did not finish validating ${authz.identifier.value} in time`);
      }
      await pause(delay, signal);
      throwIfAborted(signal);
    }
  }

  private async pollOrder(url: string, wanted: string[], step: string, signal: AbortSignal | undefined): Promise<AcmeOrder> {
    for (let attempt = 0; ; attempt += 1) {
      throwIfAborted(signal);
      const response = await this.internals.api.apiRequest(url, null, []);
      if (response.status !== 200) throw this.problemError(step, response);
      const order = { ...this.parse(orderSchema, response, step), url };
      if (wanted.includes(order.status)) return order;
      if (order.status === 'invalid') {
        const problem = order.error ?? { type: 'about:blank', detail: 'the order became invalid' };
        throw new AcmeOrderError(step, problem.type, problem.detail);
      }
      const hinted = parseRetryAfter(headerValue(response.headers, 'retry-after'), this.clock.now());
      const base = POLL_DELAYS_MS[attempt];
      if (base === undefined) throw new AcmeOrderError(step, 'autotls:timeout', `the order stayed "${order.status}" for too long`);
      const delay = hinted !== undefined ? Math.min(Math.max(hinted * 1000, base), POLL_RETRY_AFTER_CAP_MS) : base;
      await pause(delay, signal);
    }
  }

  private keepNonce(endpoint: string, response: RawResponse, problem: AcmeProblem | undefined): void {
    // newNonce answers go straight to the caller, and acme-client reuses a
    // badNonce answer's nonce itself: pooling those would hand one nonce out twice.
    if (endpoint === 'newNonce' || isProblem(problem, 'badNonce')) return;
    const nonce = headerValue(response.headers, 'replay-nonce');
    if (!nonce) return;
    this.nonces.push(nonce);
    if (this.nonces.length > NONCE_POOL_SIZE) this.nonces.shift();
  }

  private validationError(authz: AcmeAuthorization): AcmeValidationError {
    const identifier = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
    const failed = authz.challenges.find((c) => c.error) ?? authz.challenges.find((c) => c.type === 'dns-01');
    const problem = failed?.error;
    return new AcmeValidationError(identifier, problem?.type ?? 'about:blank', problem?.detail ?? `authorization is ${authz.status}`);
  }

  private parse<T>(schema: z.ZodType<T>, response: RawResponse, step: string): T {
    const parsed = schema.safeParse(response.data);
    if (!parsed.success) throw new AcmeOrderError(step, 'about:blank', 'the CA answered with an unexpected document');
    return parsed.data;
  }

  /** A typed error for a non-success response. */
  private problemError(step: string, response: RawResponse): AcmeError {
    const problem = problemOf(response);
    if (response.status === 429 || isProblem(problem, 'rateLimited')) return this.rateLimitedError(step, response, problem);
    if (isProblem(problem, 'accountDoesNotExist')) return new AcmeAccountMissingError(this.directoryUrl);
    return new AcmeOrderError(step, problem?.type ?? `http-${response.status}`, problem?.detail ?? `HTTP ${response.status}`, response.status);
  }

  private rateLimitedError(endpoint: string, response: RawResponse, problem: AcmeProblem | undefined): AcmeRateLimitedError {
    const now = this.clock.now();
    const seconds = parseRetryAfter(headerValue(response.headers, 'retry-after'), now);
    const retryAfter = seconds !== undefined ? new Date(now.getTime() + seconds * 1000) : undefined;
    return new AcmeRateLimitedError(endpoint, retryAfter, problem?.detail ?? '');
  }

  /**
   * Wraps this client's HTTP layer (not the axios instance acme-client shares
   * process-wide, so that two issuers never count each other's requests):
   * a timeout on every request, bounded retries of transient failures, the
   * request metric, and 429 → AcmeRateLimitedError wherever it happens
   * (directory, nonce, any POST). It also keeps the Replay-Nonce of each answer
   * for the next signed request, which acme-client would otherwise fetch anew.
   */
  private instrument(): void {
    const http = this.internals.http;
    const originalGetNonce = http.getNonce.bind(http);
    http.getNonce = async (): Promise<string> => this.nonces.pop() ?? originalGetNonce();
    const original = http.request.bind(http);
    http.request = async (url: string, method: string, opts: RequestOptions = {}): Promise<RawResponse> => {
      const endpoint = endpointKind(url, this.directoryUrl, this.directoryCache);
      for (let attempt = 0; ; attempt += 1) {
        const retryDelay = TRANSIENT_RETRY_DELAYS_MS[attempt];
        let response: RawResponse;
        try {
          // `timeout` is axios's socket timeout; the signal is a hard deadline for the
          // whole exchange, so a peer that keeps a connection open never hangs a run.
          response = await original(url, method, { ...opts, timeout: this.timeoutMs, signal: AbortSignal.timeout(this.timeoutMs) });
        } catch (error) {
          this.onRequest?.(endpoint, 0);
          const code = errorCode(error);
          if (retryDelay !== undefined && TRANSIENT_NETWORK_CODES.has(code)) {
            this.logger?.debug({ endpoint, code, attempt: attempt + 1 }, 'ACME request failed; retrying');
            await sleep(retryDelay);
            continue;
          }
          throw new AcmeNetworkError(endpoint, code === 'ECONNABORTED' || code === 'ERR_CANCELED' ? `timed out after ${this.timeoutMs} ms` : code);
        }
        this.onRequest?.(endpoint, response.status);
        const problem = problemOf(response);
        this.keepNonce(endpoint, response, problem);
        if (response.status === 429 || isProblem(problem, 'rateLimited')) throw this.rateLimitedError(endpoint, response, problem);
        if (retryDelay !== undefined && TRANSIENT_STATUSES.has(response.status)) {
          this.logger?.debug({ endpoint, status: response.status, attempt: attempt + 1 }, 'ACME server error; retrying');
          await sleep(retryDelay);
          continue;
        }
        return response;
      }
    };
  }
}
