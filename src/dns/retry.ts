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
