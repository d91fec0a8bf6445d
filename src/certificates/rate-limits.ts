/**
 * What a CA's rate limit applies to, read from its `rateLimited` problem.
 *
 * Most of Let's Encrypt's limits apply to one registered domain, one exact set
 * of names or one name, not to the account
 * (https://letsencrypt.org/docs/rate-limits/). Pausing the whole account for
 * one domain's limit would stop every renewal, so callers pause the account
 * only for account-wide limits and back off just the domain otherwise.
 *
 * Let's Encrypt's refusals link the limit's section of that page, e.g.
 * "too many certificates (5) already issued for this exact set of identifiers
 * in the last 168h0m0s, retry after 2025-09-18 09:13:16 UTC: see
 * https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers".
 * The anchor decides; the wording (Boulder's ratelimits package) is the
 * fallback for CAs that link nothing. An unknown limit counts as account-wide:
 * pausing too much delays renewals, pausing too little burns the limit.
 */
export type RateLimitScope = 'account' | 'registered-domain' | 'names' | 'name';

const ANCHORS: ReadonlyArray<readonly [RegExp, RateLimitScope]> = [
  [/#new-orders-per-account/, 'account'],
  [/#new-registrations-per-ip/, 'account'],
  [/#new-certificates-per-registered-domain/, 'registered-domain'],
  [/#new-certificates-per-exact-set-of/, 'names'],
  [/#(consecutive-)?authorization-failures-per-(identifier|hostname)/, 'name'],
  [/#(failed-validations|pending-authorizations)/, 'name'],
];

const WORDING: ReadonlyArray<readonly [RegExp, RateLimitScope]> = [
  [/too many new orders .*from this account/i, 'account'],
  [/too many (new )?registrations/i, 'account'],
  [/exact set of (identifiers|domains|names)/i, 'names'],
  [/too many certificates .*already issued for "/i, 'registered-domain'],
  [/(failed|consecutive) (authorizations|validations)|paused for identifier/i, 'name'],
];

export function rateLimitScope(detail: string): RateLimitScope {
  for (const [pattern, scope] of ANCHORS) if (pattern.test(detail)) return scope;
  for (const [pattern, scope] of WORDING) if (pattern.test(detail)) return scope;
  return 'account';
}
