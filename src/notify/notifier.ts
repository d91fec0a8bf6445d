/** What a notifier is told about. */
export interface DomainReport {
  domain: string;
  certificateStatus: string;
  outcome: string;
  notAfter: string | null;
  messages: string[];
  errors: string[];
}

export interface RunReport {
  runId: string;
  status: string;
  testmode: boolean;
  startedAt: string;
  finishedAt: string | null;
  results: DomainReport[];
}

/**
 * A notifier tells people what happened. Implementations never throw: a failed
 * notification is logged and never fails a domain or a run.
 */
export interface Notifier {
  readonly name: string;
  /** One domain finished (success or failure). */
  domainFinished(report: DomainReport, testmode: boolean): Promise<void>;
  /** A run finished: the summary. */
  runFinished(report: RunReport): Promise<void>;
  /** Something operators should know that is not tied to one domain (e.g. repeated bad API keys). */
  alert(message: string): Promise<void>;
}

/**
 * Waits for a notification at most `ms`; past that it carries on in the
 * background. A run's answer must not wait on Slack's rate limit (a paced
 * summary in parts, or a 429's Retry-After), yet normally the message is out
 * by the time the run document is returned.
 */
export async function notifyWithin(notification: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
  try {
    await Promise.race([notification.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
