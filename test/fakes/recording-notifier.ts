/**
 * A Notifier (src/notify/notifier.ts) that records what it is told, with the
 * time on the fake clock. It never throws, as the contract asks.
 *
 * Like a Slack incoming webhook it delivers about one message per second per
 * webhook ("Incoming webhooks ... 1 message per second, short bursts allowed",
 * https://api.slack.com/docs/rate-limits); a message sent less than
 * `minIntervalMs` after the previous one is recorded with `rateLimited: true`,
 * where Slack would have answered 429.
 */
import type { Clock } from '../../src/clock.js';
import type { DomainReport, Notifier, RunReport } from '../../src/notify/notifier.js';

export type Notification =
  | { kind: 'domain'; at: Date; rateLimited: boolean; report: DomainReport; testmode: boolean }
  | { kind: 'run'; at: Date; rateLimited: boolean; report: RunReport }
  | { kind: 'alert'; at: Date; rateLimited: boolean; message: string };

export class RecordingNotifier implements Notifier {
  readonly name = 'recording';
  readonly messages: Notification[] = [];
  private lastAt = Number.NEGATIVE_INFINITY;
  private readonly minIntervalMs: number;

  constructor(private readonly options: { clock: Clock; minIntervalMs?: number }) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
  }

  async domainFinished(report: DomainReport, testmode: boolean): Promise<void> {
    this.messages.push({ kind: 'domain', ...this.stamp(), report, testmode });
  }

  async runFinished(report: RunReport): Promise<void> {
    this.messages.push({ kind: 'run', ...this.stamp(), report });
  }

  async alert(message: string): Promise<void> {
    this.messages.push({ kind: 'alert', ...this.stamp(), message });
  }

  get domains(): DomainReport[] {
    return this.messages.flatMap((m) => (m.kind === 'domain' ? [m.report] : []));
  }

  get runs(): RunReport[] {
    return this.messages.flatMap((m) => (m.kind === 'run' ? [m.report] : []));
  }

  get alerts(): string[] {
    return this.messages.flatMap((m) => (m.kind === 'alert' ? [m.message] : []));
  }

  /** Messages Slack would have refused with 429. */
  get rateLimited(): number {
    return this.messages.filter((m) => m.rateLimited).length;
  }

  private stamp(): { at: Date; rateLimited: boolean } {
    const at = this.options.clock.now();
    const rateLimited = at.getTime() - this.lastAt < this.minIntervalMs;
    if (!rateLimited) this.lastAt = at.getTime();
    return { at, rateLimited };
  }
}
