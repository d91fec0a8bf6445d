import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadSettings, secretValues, type Settings } from '../../../src/config/index.js';
import { combineNotifiers, createNotifier, SlackPacer, type NotifierSettings } from '../../../src/notify/index.js';
import type { Notifier } from '../../../src/notify/notifier.js';
import { startSlackFake, type SlackFake } from '../../testbed/slack-fake.js';
import { captureLogger, domainReport, PRIVATE_KEY, runReport, startTinyServer, type TinyServer } from './helpers.js';

let slack: SlackFake;
let hook: TinyServer;

beforeAll(async () => {
  slack = await startSlackFake();
  hook = await startTinyServer();
});
afterAll(async () => {
  await slack.stop();
  await hook.stop();
});
beforeEach(() => {
  slack.reset();
  hook.received.length = 0;
});

function settings(overrides: {
  appEnv?: Settings['appEnv'];
  slackEnabled?: boolean;
  slackUrl?: string | undefined;
  webhookUrl?: string | undefined;
}): NotifierSettings {
  return {
    appEnv: overrides.appEnv ?? 'production',
    slack: {
      enabled: overrides.slackEnabled ?? true,
      webhookUrl: 'slackUrl' in overrides ? overrides.slackUrl : slack.url(),
      botToken: undefined,
    },
    webhook: { url: overrides.webhookUrl, secret: 'hook-secret-123456' },
  };
}

/** The secrets the composition root hands over: secretValues of the configuration, as the schema marks them. */
const SECRETS = { secrets: secretValues(loadSettings({ API_KEY: 'the-api-key-0123456789', FASTLY_API_TOKEN: 'fastly-token-0123456789', NOTIFY_WEBHOOK_SECRET: 'hook-secret-123456' })) };

describe('createNotifier', () => {
  it('uses Slack in production when enabled', async () => {
    const { logger } = captureLogger();
    const n = createNotifier(settings({}), logger, SECRETS);
    expect(n.notifiers.map((x) => x.name)).toEqual(['slack']);
    // Slack gets one summary per run (issue 13): the domain line is folded into it.
    await n.domainFinished(domainReport(), false);
    expect(slack.delivered()).toHaveLength(0);
    await n.runFinished(runReport());
    expect(slack.delivered()).toHaveLength(1);
    await n.close();
  });

  it('logs instead of posting to Slack outside production (seed behaviour)', async () => {
    const log = captureLogger();
    const n = createNotifier(settings({ appEnv: 'staging' }), log.logger, SECRETS);
    expect(n.notifiers.map((x) => x.name)).toEqual(['log']);
    await n.domainFinished(domainReport(), true);
    expect(slack.posts).toHaveLength(0);
    const line = log.entries.find((e) => e.notification === 'domain');
    expect(line).toMatchObject({ domain: 'example.com', outcome: 'renewed', testmode: true, component: 'notify' });
    expect(String(line?.msg)).toContain('*example.com*: renewed');
    await n.close();
  });

  it('logs when Slack is off or has no URL', () => {
    const { logger } = captureLogger();
    expect(createNotifier(settings({ slackEnabled: false }), logger, SECRETS).notifiers.map((x) => x.name)).toEqual(['log']);
    expect(createNotifier(settings({ slackUrl: undefined }), logger, SECRETS).notifiers.map((x) => x.name)).toEqual(['log']);
  });

  it('adds the webhook beside Slack or the log, and fans out to all', async () => {
    const { logger } = captureLogger();
    const n = createNotifier(settings({ webhookUrl: `${hook.url}/h` }), logger, SECRETS);
    expect(n.notifiers.map((x) => x.name)).toEqual(['slack', 'webhook']);
    expect(n.name).toBe('slack+webhook');
    await n.runFinished(runReport());
    expect(slack.delivered()).toHaveLength(1);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]?.headers['x-autotls-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    await n.close();
  });

  it('keeps the API key, tokens and private keys out of every channel', async () => {
    const log = captureLogger();
    const hub = createNotifier(settings({ appEnv: 'local', webhookUrl: `${hook.url}/h` }), log.logger, SECRETS);
    await hub.domainFinished(
      domainReport({ errors: ['Fastly said: fastly-token-0123456789 invalid', `bad key ${PRIVATE_KEY}`], messages: ['api key the-api-key-0123456789'] }),
      false,
    );
    const everything = log.raw() + hook.received.map((r) => r.raw).join('');
    expect(everything).not.toContain('fastly-token-0123456789');
    expect(everything).not.toContain('the-api-key-0123456789');
    expect(everything).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    await hub.close();
  });

  it('aggregates repeated alerts across all notifiers', async () => {
    vi.useFakeTimers();
    try {
      const { logger } = captureLogger();
      // Unpaced: the process-wide pacer's 1 s gap would wait on the faked clock.
      const n = createNotifier(settings({}), logger, { ...SECRETS, alertWindowMs: 60_000, slackPacer: new SlackPacer({ minIntervalMs: 0 }) });
      for (let i = 0; i < 10; i++) await n.alert('request with a bad API key');
      expect(slack.delivered().map((p) => p.text)).toEqual([':rotating_light: *AutoTLS alert*: request with a bad API key']);
      await vi.advanceTimersByTimeAsync(60_000);
      await vi.waitFor(() => expect(slack.delivered()).toHaveLength(2));
      expect(slack.delivered()[1]?.text).toContain('repeated 9 more times in the last 60 s');
      await n.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('combineNotifiers', () => {
  it('a notifier that breaks its promise and throws does not stop the others', async () => {
    const log = captureLogger();
    const calls: string[] = [];
    const broken: Notifier = {
      name: 'broken',
      domainFinished: async () => {
        throw new Error('boom');
      },
      runFinished: async () => {
        throw new Error('boom');
      },
      alert: async () => {
        throw new Error('boom');
      },
    };
    const good: Notifier = {
      name: 'good',
      domainFinished: async (r) => void calls.push(`domain ${r.domain}`),
      runFinished: async (r) => void calls.push(`run ${r.runId}`),
      alert: async (m) => void calls.push(`alert ${m}`),
    };
    const hub = combineNotifiers([broken, good], log.logger);
    await expect(hub.domainFinished(domainReport(), false)).resolves.toBeUndefined();
    await expect(hub.runFinished(runReport())).resolves.toBeUndefined();
    await expect(hub.alert('hi')).resolves.toBeUndefined();
    expect(calls).toEqual(['domain example.com', 'run run-123', 'alert hi']);
    expect(log.entries.filter((e) => e.msg === 'notifier failed')).toHaveLength(3);
    await hub.close();
  });
});
