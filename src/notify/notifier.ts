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
