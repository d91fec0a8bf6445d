/**
 * DNS-01 for one order: read its authorizations, publish every pending key
 * authorisation in one record set (apex and wildcard share
 * `_acme-challenge.<domain>`), answer the challenges, wait for the CA, and
 * remove the record whatever happens.
 */
import type acme from 'acme-client';
import type { PublishedChallenge } from '../dns/challenge.js';
import type { Logger } from '../logger.js';
import type { AcmeApiInternals, RawResponse } from './acme-internals.js';
import { authorizationSchema, parseDocument, type AcmeAuthorization, type AcmeOrder } from './acme-schemas.js';
import { abortedError, pause } from './acme-transport.js';
import { AcmeOrderError, AcmeValidationError, type AcmeError } from './errors.js';
import type { IssueHooks, IssueRequest } from './issuer.js';

/** Status polling: short first (Pebble and Let's Encrypt usually finish in ~1 s), then every 5 s; ~2 minutes in all. */
export const POLL_DELAYS_MS = [250, 500, 1_000, 2_000, 3_000, ...Array<number>(22).fill(5_000)];

export interface AuthorizationDeps {
  client: acme.Client;
  api: AcmeApiInternals;
  logger: Logger | undefined;
  problemError: (step: string, response: RawResponse) => AcmeError;
}

export async function validateAuthorizations(order: AcmeOrder, req: IssueRequest, hooks: IssueHooks, deps: AuthorizationDeps): Promise<void> {
  const authorizations = await Promise.all(order.authorizations.map((url) => getAuthorization(url, deps)));
  for (const authz of authorizations) {
    if (authz.status === 'invalid') throw validationError(authz);
  }
  const pending = authorizations.filter((a) => a.status === 'pending');
  if (pending.length === 0) return;

  const work = await Promise.all(
    pending.map(async (authz) => {
      const challenge = authz.challenges.find((c) => c.type === 'dns-01');
      if (!challenge?.token) {
        throw new AcmeOrderError('authorization', 'about:blank', `the CA offers no dns-01 challenge for ${authz.identifier.value}`);
      }
      const keyAuthorization = await deps.client.getChallengeKeyAuthorization({ type: 'dns-01', url: challenge.url, status: 'pending', token: challenge.token });
      return { authz, challenge, keyAuthorization };
    }),
  );
  const values = [...new Set(work.map((w) => w.keyAuthorization))];

  let published: PublishedChallenge | undefined;
  try {
    await hooks.publisher.clearStale(req.domain, req.zone);
    if (hooks.signal?.aborted) throw abortedError('publishing the DNS-01 record', hooks.signal);
    published = await hooks.publisher.publish(req.domain, req.zone, values);
    if (hooks.signal?.aborted) throw abortedError('challenge', hooks.signal);
    for (const { challenge } of work) {
      const response = await deps.api.apiRequest(challenge.url, {}, []);
      if (response.status !== 200) throw deps.problemError('challenge', response);
    }
    // The first failed authorization ends the wait for the others too.
    const stopPolling = new AbortController();
    const signal = hooks.signal ? AbortSignal.any([hooks.signal, stopPolling.signal]) : stopPolling.signal;
    try {
      await Promise.all(work.map(({ authz }) => pollAuthorization(authz.url, signal, deps)));
    } finally {
      stopPolling.abort();
    }
  } finally {
    if (published) {
      try {
        await hooks.publisher.cleanup(published);
      } catch (error) {
        deps.logger?.warn({ domain: req.domain, fqdn: published.fqdn, err: error }, 'Could not remove the DNS-01 challenge record');
      }
    }
  }
}

async function getAuthorization(url: string, deps: AuthorizationDeps): Promise<AcmeAuthorization> {
  const response = await deps.api.apiRequest(url, null, []);
  if (response.status !== 200) throw deps.problemError('authz', response);
  return { ...parseDocument(authorizationSchema, response, 'authz'), url };
}

async function pollAuthorization(url: string, signal: AbortSignal, deps: AuthorizationDeps): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    const authz = await getAuthorization(url, deps);
    if (authz.status === 'valid') return;
    if (authz.status !== 'pending') throw validationError(authz);
    const delay = POLL_DELAYS_MS[attempt];
    if (delay === undefined) {
      throw new AcmeOrderError('authorization', 'autotls:timeout', `the CA did not finish validating ${authz.identifier.value} in time`);
    }
    await pause(delay, signal, 'authorization');
    if (signal.aborted) throw abortedError('authorization', signal);
  }
}

function validationError(authz: AcmeAuthorization): AcmeValidationError {
  const identifier = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
  const failed = authz.challenges.find((c) => c.error) ?? authz.challenges.find((c) => c.type === 'dns-01');
  const problem = failed?.error;
  return new AcmeValidationError(identifier, problem?.type ?? 'about:blank', problem?.detail ?? `authorization is ${authz.status}`);
}
