import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';
import { RateLimitedAlerts } from './alerts.js';
import { Redactor } from './format.js';
import { LogNotifier } from './log.js';
import type { DomainReport, Notifier, RunReport } from './notifier.js';
import type { SlackPacer } from './pacing.js';
import { SlackNotifier } from './slack.js';
import { WebhookNotifier } from './webhook.js';

export type { DomainReport, Notifier, RunReport } from './notifier.js';
export { RateLimitedAlerts } from './alerts.js';
export { LogNotifier } from './log.js';
export { SlackNotifier } from './slack.js';
export { processSlackPacer, SlackPacer } from './pacing.js';
export { signWebhookBody, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, type WebhookEvent } from './webhook.js';

/** What `createNotifier` reads. Passing the whole Settings works. */
export type NotifierSettings = Pick<Settings, 'appEnv' | 'slack' | 'webhook'>;

export interface NotifierOptions {
  /** Alert aggregation window; default one minute. */
  alertWindowMs?: number;
  /** Slack pacing; default the process-wide pacer (about 1 message a second). */
  slackPacer?: SlackPacer;
}

/** A Notifier over several notifiers, with alert aggregation; `close()` sends pending alert counts. */
export interface NotifierHub extends Notifier {
  readonly notifiers: readonly Notifier[];
  flush(): Promise<void>;
  close(): Promise<void>;
}

class FanOutNotifier implements NotifierHub {
  readonly name: string;
  private readonly alerts: RateLimitedAlerts;

  constructor(
    readonly notifiers: readonly Notifier[],
    private readonly logger: Logger,
    alertWindowMs: number | undefined,
  ) {
    this.name = notifiers.map((n) => n.name).join('+') || 'none';
    this.alerts = new RateLimitedAlerts((message) => this.each('alert', (n) => n.alert(message)), {
      ...(alertWindowMs === undefined ? {} : { windowMs: alertWindowMs }),
      logger,
    });
  }

  domainFinished(report: DomainReport, testmode: boolean): Promise<void> {
    return this.each('domainFinished', (n) => n.domainFinished(report, testmode));
  }

  runFinished(report: RunReport): Promise<void> {
    return this.each('runFinished', (n) => n.runFinished(report));
  }

  async alert(message: string): Promise<void> {
    try {
      await this.alerts.alert(message);
    } catch {
      // RateLimitedAlerts already logs delivery failures
    }
  }

  flush(): Promise<void> {
    return this.alerts.flush();
  }

  close(): Promise<void> {
    return this.alerts.close();
  }

  private async each(what: string, call: (n: Notifier) => Promise<void>): Promise<void> {
    await Promise.all(
      this.notifiers.map(async (n) => {
        try {
          await call(n);
        } catch (err) {
          // Notifiers promise not to throw; this is the belt to their braces.
          this.logger.warn({ notifier: n.name, what, err: err instanceof Error ? err.message : String(err) }, 'notifier failed');
        }
      }),
    );
  }
}

/** Several notifiers behind one, with alert aggregation (what `createNotifier` builds). */
export function combineNotifiers(notifiers: readonly Notifier[], logger: Logger, options: NotifierOptions = {}): NotifierHub {
  return new FanOutNotifier(notifiers, logger, options.alertWindowMs);
}

/**
 * Every enabled notifier behind one Notifier:
 * - Slack when ENABLE_SLACK_NOTIFICATIONS is on, a webhook URL is configured and
 *   APP_ENV is production (one paced summary per run, plus alerts); otherwise the
 *   log notifier takes its place (seed behaviour).
 * - The generic JSON webhook whenever NOTIFY_WEBHOOK_URL is set.
 * Alerts are aggregated: the same text at most once per window, with a count.
 */
export function createNotifier(
  settings: NotifierSettings,
  logger: Logger,
  options: NotifierOptions & {
    /** The configured secrets (`secretValues(settings)`, from the schema), kept out of every message. */
    secrets: readonly string[];
  },
): NotifierHub {
  const log = logger.child({ component: 'notify' });
  const redactor = new Redactor(options.secrets);
  const notifiers: Notifier[] = [];
  const slackUrl = settings.slack.webhookUrl;
  if (settings.slack.enabled && !slackUrl) {
    log.warn('Slack notifications are enabled but no webhook URL is configured; logging them instead');
  }
  if (settings.slack.enabled && slackUrl && settings.appEnv === 'production') {
    notifiers.push(new SlackNotifier({ webhookUrl: slackUrl, logger: log, redactor, ...(options.slackPacer ? { pacer: options.slackPacer } : {}) }));
  } else {
    if (settings.slack.enabled && slackUrl) log.info({ appEnv: settings.appEnv }, 'Slack notifications are logged instead outside production');
    notifiers.push(new LogNotifier(log, redactor));
  }
  if (settings.webhook.url) {
    notifiers.push(new WebhookNotifier({ url: settings.webhook.url, secret: settings.webhook.secret, logger: log, redactor }));
  }
  return combineNotifiers(notifiers, log, options);
}
