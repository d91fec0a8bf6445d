/**
 * Bounded retries with exponential backoff and full jitter, shared by the DNS
 * providers so that "how often and how long" is decided in one place.
 */

export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  attempts: number;
  /** Delay before the first retry, before jitter. Doubles at every retry. */
  baseDelayMs: number;
  /** Upper bound of any single delay. */
  maxDelayMs: number;
}

/** What to do with a failure: give up, or retry (optionally after a server-given delay). */
export type RetryDecision = { retry: false } | { retry: true; delayMs?: number };

/** Full-jitter exponential backoff: a random delay in [d/2, d], d = base·2^retry capped. */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export interface RetryOptions {
  policy: RetryPolicy;
  classify: (error: unknown) => RetryDecision;
  onRetry?: (error: unknown, retry: number, delayMs: number) => void;
}

/** Runs `fn` until it succeeds, `classify` says stop, or the attempts are used up. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, classify, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const decision = classify(error);
      if (!decision.retry || attempt >= policy.attempts) throw error;
      const delayMs = Math.min(policy.maxDelayMs, decision.delayMs ?? backoffDelay(attempt - 1, policy));
      onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}

/**
 * Retry-After (RFC 9110 §10.2.3) as whole seconds from `now`: delta-seconds or
 * an HTTP-date; undefined when absent or unreadable. A date in the past is 0.
 * Fractional seconds, which some APIs send, are kept.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date = new Date()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  // An HTTP-date names a weekday and a month; Date.parse alone would take '-5' as a year.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** Waits `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return sleep(ms);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
