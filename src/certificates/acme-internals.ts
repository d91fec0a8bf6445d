/**
 * Every use of acme-client's private internals, in one place.
 *
 * acme-client (node_modules/acme-client/src/{http,api,axios}.js, v5.4) turns
 * every problem document into a plain `Error(detail)` in its public methods, and
 * its shared axios instance retries 429s for as long as Retry-After says. We need
 * the problem `type`, the HTTP status and the headers, so AutoTLS reaches one
 * level down: the client's `http` and `api` objects and the axios handler.
 * `readInternals` checks their shape when an issuer is made, and
 * test/unit/certificates/acme-internals.test.ts fails when an upgrade moves them.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import acme from 'acme-client';

export interface RawResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}

export interface RequestOptions {
  timeout?: number;
  signal?: AbortSignal;
  /** The JWS body of a signed POST (`payload` is '' for a POST-as-GET). */
  data?: unknown;
  [key: string]: unknown;
}

export interface AcmeHttpInternals {
  /** PEM buffer as acme-client stores it; replaced by a parsed KeyObject (see readInternals). */
  accountKey: Buffer | KeyObject;
  /** acme-client's own directory cache (`getDirectory`), cleared when we re-read the directory. */
  directoryCache: unknown;
  request(url: string, method: string, opts?: RequestOptions): Promise<RawResponse>;
  getDirectory(): Promise<unknown>;
  getNonce(): Promise<string>;
}

export interface AcmeApiInternals {
  accountUrl: string | null;
  apiRequest(url: string, payload: unknown, validStatusCodes: number[], opts?: { includeJwsKid?: boolean }): Promise<RawResponse>;
  apiResourceRequest(
    resource: string,
    payload: unknown,
    validStatusCodes: number[],
    opts?: { includeJwsKid?: boolean; includeExternalAccountBinding?: boolean },
  ): Promise<RawResponse>;
}

export interface ClientInternals {
  http: AcmeHttpInternals;
  api: AcmeApiInternals;
}

interface AcmeAxiosDefaults {
  acmeSettings?: { retryMaxAttempts: number; retryDefaultDelay: number };
}

interface InterceptorHandler {
  rejected?: ((error: unknown) => unknown) | null;
}

interface InterceptorHandlers {
  handlers?: Array<InterceptorHandler | null>;
}

/** What acme-client must still look like for AutoTLS to work; each entry names what moved. */
export function internalsProblems(client: acme.Client): string[] {
  const problems: string[] = [];
  const { http, api } = client as unknown as Partial<ClientInternals>;
  for (const name of ['request', 'getDirectory', 'getNonce', 'signedRequest'] as const) {
    if (typeof (http as Record<string, unknown> | undefined)?.[name] !== 'function') problems.push(`client.http.${name}() is gone`);
  }
  if (http && !('directoryCache' in http)) problems.push('client.http.directoryCache is gone');
  if (http && !('accountKey' in http)) problems.push('client.http.accountKey is gone');
  for (const name of ['apiRequest', 'apiResourceRequest'] as const) {
    if (typeof (api as Record<string, unknown> | undefined)?.[name] !== 'function') problems.push(`client.api.${name}() is gone`);
  }
  if (api && !('accountUrl' in api)) problems.push('client.api.accountUrl is gone');
  const settings = (acme.axios.defaults as unknown as AcmeAxiosDefaults).acmeSettings;
  if (typeof settings?.retryMaxAttempts !== 'number') problems.push('acme.axios.defaults.acmeSettings.retryMaxAttempts is gone');
  const handlers = (acme.axios.interceptors.response as unknown as InterceptorHandlers).handlers;
  if (!Array.isArray(handlers) || !handlers.some((h) => typeof h?.rejected === 'function')) {
    problems.push('acme.axios.interceptors.response.handlers[].rejected is gone');
  }
  return problems;
}

/**
 * The client's internals, typed, with the PEM account key replaced by a parsed
 * KeyObject: acme-client parses the PEM again for every signed request (about a
 * sixth of a run's CPU in bench/); node:crypto signs with a KeyObject as well.
 */
export function readInternals(client: acme.Client, accountKeyPem: string): ClientInternals {
  const problems = internalsProblems(client);
  if (problems.length > 0) throw new Error(`acme-client ${problems.join('; ')}: AutoTLS needs updating for this acme-client version`);
  const internals = client as unknown as ClientInternals;
  internals.http.accountKey = createPrivateKey(accountKeyPem);
  return internals;
}

const patchedHandlers = new WeakSet<object>();

function hasResponse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { response?: unknown }).response !== undefined;
}

/**
 * acme-client's shared axios instance retries 429 and 5xx, sleeping for as long
 * as Retry-After says (hours, for a rate limit). We switch that off: a 429 must
 * reach us as a response so it becomes an AcmeRateLimitedError, and our own
 * bounded retry (acme-transport.ts) handles transient failures.
 *
 * Its error interceptor also turns every failure without a response (timeout,
 * refused connection) into a TypeError once retries are exhausted (it calls
 * `validateStatus(undefined)`), losing the error code. Errors without a response
 * therefore bypass it; responses still go through it unchanged.
 */
export function configureSharedAxios(): void {
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

/** Whether a signed request is a POST-as-GET (RFC 8555 §6.3: the JWS payload is empty). */
export function isPostAsGet(opts: RequestOptions): boolean {
  const body = opts.data;
  return typeof body === 'object' && body !== null && (body as { payload?: unknown }).payload === '';
}
