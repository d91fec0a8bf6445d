/**
 * The ACME documents AutoTLS reads (only the fields it uses), and the
 * classification of a CA's answer into the typed errors of errors.ts.
 */
import { z } from 'zod';
import { parseRetryAfter } from '../util/retry.js';
import type { RawResponse } from './acme-internals.js';
import {
  ACME_ERROR_PREFIX,
  AcmeAccountMissingError,
  AcmeError,
  AcmeOrderError,
  AcmeRateLimitedError,
  type AcmeProblem,
} from './errors.js';

export const problemSchema: z.ZodType<AcmeProblem> = z.object({
  type: z.string().default('about:blank'),
  detail: z.string().default(''),
  status: z.number().optional(),
  get subproblems() {
    return z.array(problemSchema).optional();
  },
});

export const directorySchema = z.object({
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
export type AcmeDirectory = z.infer<typeof directorySchema>;

const identifierSchema = z.object({ type: z.string(), value: z.string() });

export const orderSchema = z.object({
  status: z.string(),
  identifiers: z.array(identifierSchema).default([]),
  authorizations: z.array(z.string()).default([]),
  finalize: z.string(),
  certificate: z.string().optional(),
  expires: z.string().optional(),
  profile: z.string().optional(),
  replaces: z.string().optional(),
  error: problemSchema.optional(),
});
export type AcmeOrder = z.infer<typeof orderSchema> & { url: string };

/** RFC 8555 §7.1.2: the account object; `orders` is the account's order list (Pebble has one, Boulder does not). */
export const accountSchema = z.object({ orders: z.string().optional() });

/** RFC 8555 §7.1.2.1: an order list page. */
export const orderListSchema = z.object({ orders: z.array(z.string()).default([]) });

const challengeSchema = z.object({
  type: z.string(),
  url: z.string(),
  status: z.string(),
  token: z.string().optional(),
  error: problemSchema.optional(),
});

export const authorizationSchema = z.object({
  status: z.string(),
  identifier: identifierSchema,
  wildcard: z.boolean().optional(),
  challenges: z.array(challengeSchema).default([]),
});
export type AcmeAuthorization = z.infer<typeof authorizationSchema> & { url: string };

export const renewalInfoSchema = z.object({
  suggestedWindow: z.object({ start: z.string(), end: z.string() }),
  explanationURL: z.string().optional(),
});

export function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

export function problemOf(response: RawResponse): AcmeProblem | undefined {
  const parsed = problemSchema.safeParse(response.data);
  if (!parsed.success || (parsed.data.type === 'about:blank' && parsed.data.detail === '')) return undefined;
  return parsed.data;
}

export function isProblem(problem: AcmeProblem | undefined, short: string): boolean {
  return problem?.type === `${ACME_ERROR_PREFIX}${short}`;
}

/**
 * The CA refused the `replaces` field itself (as opposed to the order). Besides the
 * typed refusals, a server error whose detail is about the certificate to replace:
 * Pebble 2.7.0 answers 500 "could not find an order for the given certificate" for
 * about one certificate in 256 (it indexes orders by the hex of the serial's
 * big.Int bytes, ca/ca.go, but looks them up by the hex of the CertID's DER serial,
 * core/types.go NewCertID, which keeps a leading zero byte). Asking again with the
 * same `replaces` would fail the same way until the certificate expired.
 */
export function rejectsReplaces(problem: AcmeProblem | undefined): boolean {
  if (!problem) return false;
  if (isProblem(problem, 'alreadyReplaced')) return true;
  const aboutReplacedCertificate = /replace|ari|certid|serial|given certificate/i.test(problem.detail);
  return aboutReplacedCertificate && ['malformed', 'unauthorized', 'conflict', 'serverInternal'].some((type) => isProblem(problem, type));
}

/** The CA refused the profile (draft-ietf-acme-profiles `invalidProfile`): its directory may have changed. */
export function rejectsProfile(problem: AcmeProblem | undefined): boolean {
  return isProblem(problem, 'invalidProfile') || (isProblem(problem, 'malformed') && /profile/i.test(problem?.detail ?? ''));
}

/** Parses a CA document, or throws an AcmeOrderError naming the step. */
export function parseDocument<T>(schema: z.ZodType<T>, response: RawResponse, step: string): T {
  const parsed = schema.safeParse(response.data);
  if (!parsed.success) throw new AcmeOrderError(step, 'about:blank', 'the CA answered with an unexpected document');
  return parsed.data;
}

/** Retry-After as an absolute instant, when the CA sent one. */
export function retryAfterOf(response: RawResponse, now: Date): Date | undefined {
  const seconds = parseRetryAfter(headerValue(response.headers, 'retry-after'), now);
  return seconds !== undefined ? new Date(now.getTime() + seconds * 1000) : undefined;
}

export function isRateLimited(response: RawResponse, problem: AcmeProblem | undefined = problemOf(response)): boolean {
  return response.status === 429 || isProblem(problem, 'rateLimited');
}

/** A typed error for a non-success response at `step`. */
export function problemError(step: string, response: RawResponse, ctx: { directoryUrl: string; now: Date }): AcmeError {
  const problem = problemOf(response);
  if (isRateLimited(response, problem)) return new AcmeRateLimitedError(step, retryAfterOf(response, ctx.now), problem?.detail ?? '');
  if (isProblem(problem, 'accountDoesNotExist')) return new AcmeAccountMissingError(ctx.directoryUrl);
  return new AcmeOrderError(step, problem?.type ?? `http-${response.status}`, problem?.detail ?? `HTTP ${response.status}`, response.status);
}
