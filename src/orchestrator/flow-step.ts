/**
 * How the flow's steps fail: a StepError names the step and its cause
 * ("uploading to Fastly: HTTP 503 ..."); a Deferred is not a failure (a
 * backoff, a budget or rate-limit wait) and becomes the outcome `deferred`.
 */
import { errorMessage } from '../util/errors.js';

/** Not now: the domain is `deferred`, with this message, and no failure is recorded. */
export class Deferred extends Error {}

/**
 * A failure that left the flow, named by the step it happened in, so that the
 * run document, Slack and the log all say where and why
 * ("uploading to Fastly: HTTP 503 ...").
 */
export class StepError extends Error {
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`${step}: ${errorMessage(cause)}`, { cause });
    this.name = 'StepError';
  }
}

/** Runs one step of the flow; its errors leave named by the step (Deferred and named errors pass unchanged). */
export async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Deferred || error instanceof StepError) throw error;
    throw new StepError(name, error);
  }
}
