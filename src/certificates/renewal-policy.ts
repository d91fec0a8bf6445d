/**
 * When to renew, when to ask ARI again, and how long to wait after a failure.
 * Pure functions: every "now" and every random draw is an argument.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Certificates shorter than this renew at half their lifetime instead of a third. */
const SHORT_LIVED_MS = 10 * DAY_MS;

export interface RenewalTimeInput {
  /** Unknown for certificates known only from the database (`tls_exp_date`). */
  notBefore: Date | undefined;
  notAfter: Date;
  /** RENEWAL_WINDOW_DAYS. */
  windowDays: number;
  /** True when RENEWAL_WINDOW_DAYS was set explicitly. */
  windowExplicit: boolean;
}

/**
 * The time a certificate becomes due for renewal when no ARI window applies.
 *
 * - RENEWAL_WINDOW_DAYS set explicitly: that many days before expiry, but never
 *   more than half the lifetime (a 6-day certificate with a 15-day window would
 *   otherwise be due the moment it is issued).
 * - Otherwise, by lifetime fraction (what Let's Encrypt recommends): when a third
 *   of the lifetime remains, or half of it for certificates shorter than 10 days.
 * - Without a notBefore there is no lifetime to take a fraction of: the fixed
 *   window applies (the seed's behaviour).
 */
export function renewalTime(input: RenewalTimeInput): Date {
  const notAfterMs = input.notAfter.getTime();
  const windowMs = Math.max(0, input.windowDays) * DAY_MS;
  if (!input.notBefore) return new Date(notAfterMs - windowMs);

  const lifetimeMs = Math.max(0, notAfterMs - input.notBefore.getTime());
  if (input.windowExplicit) return new Date(notAfterMs - Math.min(windowMs, lifetimeMs / 2));
  const remainingFraction = lifetimeMs < SHORT_LIVED_MS ? 1 / 2 : 1 / 3;
  return new Date(notAfterMs - lifetimeMs * remainingFraction);
}

/** Whether a certificate is due now by `renewalTime`. */
export function isRenewalDue(input: RenewalTimeInput, now: Date): boolean {
  return renewalTime(input).getTime() <= now.getTime();
}

/**
 * Whether the live certificate (`notBefore`..`notAfter`) is due. When it is the
 * certificate AutoTLS recorded (or an older one), AutoTLS's own renewal time
 * decides, since it may come from ARI; a newer one (renewed elsewhere) is judged
 * by the lifetime policy.
 */
export function isLiveCertificateDue(
  recorded: { nextRenewalAt: Date | null; certNotAfter: Date | null } | null,
  live: { notBefore: Date; notAfter: Date },
  policy: { windowDays: number; windowExplicit: boolean },
  now: Date,
): boolean {
  if (recorded?.nextRenewalAt && recorded.certNotAfter && live.notAfter.getTime() <= recorded.certNotAfter.getTime()) {
    return recorded.nextRenewalAt.getTime() <= now.getTime();
  }
  return isRenewalDue({ ...live, ...policy }, now);
}

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/**
 * How much of the window's end a chosen renewal time leaves free (at most half
 * the window): the continuous schedule gathers renewal times for up to
 * GATHER_MS (30 min) and wakes up to 5 minutes late on purpose, and the run
 * itself takes a while. Without it, about 1% of the renewals of a 10,000-domain
 * simulation landed after their window had ended.
 */
export const RENEWAL_WINDOW_END_MARGIN_MS = 45 * MINUTE_MS;

/**
 * RFC 9773 §4.2: a uniformly random time inside the suggested window (short of
 * its last RENEWAL_WINDOW_END_MARGIN_MS); a chosen time already in the past
 * (including any window that has already ended) means now. `random` returns a
 * number in [0, 1).
 */
export function ariRenewalTime(window: RenewalWindow, random: () => number, now: Date): Date {
  const start = window.start.getTime();
  const end = window.end.getTime();
  if (end < now.getTime()) return new Date(now.getTime());
  const span = Math.max(0, end - start);
  const usable = span - Math.min(RENEWAL_WINDOW_END_MARGIN_MS, span / 2);
  const chosen = start + Math.max(0, Math.min(1, random())) * usable;
  return new Date(Math.max(chosen, now.getTime()));
}

/** RFC 9773 §4.3: a Retry-After under a minute is treated as a minute. */
export const ARI_MIN_CHECK_INTERVAL_MS = MINUTE_MS;
/** RFC 9773 §4.3: a Retry-After over a day is treated as a day. */
export const ARI_MAX_CHECK_INTERVAL_MS = DAY_MS;
/** Without Retry-After: Let's Encrypt's own interval (it sends `Retry-After: 21600`). */
export const ARI_DEFAULT_CHECK_INTERVAL_MS = 6 * HOUR_MS;
/** After a failed check (no answer, or an unreadable one): try again in an hour. */
export const ARI_ERROR_RETRY_MS = HOUR_MS;

/**
 * When to fetch a certificate's RenewalInfo again.
 *
 * Rule: next = now + clamp(Retry-After, 1 min, 24 h); without Retry-After, 6 h.
 * RFC 9773 §4.3: the client SHOULD ask again once Retry-After has passed, since
 * the window may move (a CA about to revoke moves it into the past), and sets
 * reasonable limits: values under a minute as a minute, over a day as a day.
 */
export function nextAriCheck(now: Date, retryAfterSeconds: number | undefined): Date {
  const requested = retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) ? retryAfterSeconds * 1000 : ARI_DEFAULT_CHECK_INTERVAL_MS;
  const intervalMs = Math.min(ARI_MAX_CHECK_INTERVAL_MS, Math.max(ARI_MIN_CHECK_INTERVAL_MS, requested));
  return new Date(now.getTime() + intervalMs);
}

/** A RenewalInfo answer, as far as the renewal schedule needs it (issuer.ts RenewalInfo). */
export interface AriAnswer {
  suggestedWindow: RenewalWindow;
  retryAfterSeconds?: number;
}

export interface AriSchedule {
  nextRenewalAt: Date;
  ariCheckAfter: Date;
  /** False when the time picked earlier still lies inside the (unchanged) window and was kept. */
  picked: boolean;
}

/**
 * The one place an ARI answer becomes a renewal schedule, used when a
 * certificate is recorded (domain-flow.ts) and at every later check
 * (ari-refresh.ts).
 *
 * - A time picked earlier that still lies inside a window that has not ended is
 *   kept, so that re-checking does not re-draw the time every few hours; so is
 *   a time already due when the window has ended.
 * - Otherwise a new uniformly random time inside the window (ariRenewalTime); a
 *   window in the past means now.
 * - The next check follows Retry-After (nextAriCheck).
 */
export function scheduleFromAri(info: AriAnswer, now: Date, random: () => number, current?: Date | null): AriSchedule {
  const { start, end } = info.suggestedWindow;
  const ariCheckAfter = nextAriCheck(now, info.retryAfterSeconds);
  const insideOpenWindow = (c: Date) => c >= start && c <= end && end > now;
  // A window that has ended means "now"; a time already due stays as it is.
  const alreadyDue = (c: Date) => end <= now && c <= now;
  const keep = current !== null && current !== undefined && (insideOpenWindow(current) || alreadyDue(current));
  if (keep) return { nextRenewalAt: current, ariCheckAfter, picked: false };
  return { nextRenewalAt: ariRenewalTime(info.suggestedWindow, random, now), ariCheckAfter, picked: true };
}

const BACKOFF_STEPS_MS = [MINUTE_MS, 10 * MINUTE_MS, 100 * MINUTE_MS, DAY_MS] as const;

/**
 * Delay before retrying a domain after `failureCount` consecutive failures:
 * 1 min, 10 min, 100 min, then 24 h, each with ±10 % jitter so that domains
 * that failed together do not retry together. `random` returns a number in [0, 1).
 */
export function backoffDelay(failureCount: number, random: () => number): number {
  if (failureCount <= 0) return 0;
  const base = BACKOFF_STEPS_MS[Math.min(failureCount, BACKOFF_STEPS_MS.length) - 1] as number;
  const jitter = 0.9 + 0.2 * Math.max(0, Math.min(1, random()));
  return Math.round(base * jitter);
}
