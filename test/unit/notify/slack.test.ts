import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/notify/format.js';
import { SlackNotifier } from '../../../src/notify/slack.js';
import { startSlackFake, type SlackFake } from '../../testbed/slack-fake.js';
import { captureLogger, domainReport, PRIVATE_KEY, runReport, startTinyServer } from './helpers.js';

let slack: SlackFake;

beforeAll(async () => {
  slack = await startSlackFake();
});
afterAll(async () => {
  await slack.stop();
});
beforeEach(() => slack.reset());

function notifier(overrides: { webhookUrl?: string; timeoutMs?: number; secrets?: string[] } = {}) {
  const log = captureLogger();
  const n = new SlackNotifier({
    webhookUrl: overrides.webhookUrl ?? slack.url('T0001', 'B0001/SECRETKEY123'),
    logger: log.logger,
    redactor: new Redactor(overrides.secrets ?? []),
    retryMinDelayMs: 10,
    ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
  });
  return { n, log };
}

describe('SlackNotifier through @slack/webhook', () => {
  it('posts one line per domain with the status emoji, messages and errors', async () => {
    const { n } = notifier();
    await n.domainFinished(domainReport(), false);
    await n.domainFinished(domainReport({ domain: 'bad.example', outcome: 'failed', errors: ['Fastly upload failed: HTTP 422'] }), true);
    const posts = slack.delivered();
    expect(posts).toHaveLength(2);
    expect(posts[0]?.workspace).toBe('T0001');
    expect(posts[0]?.text).toContain(':white_check_mark: *example.com*: renewed (certificate renew, expires 2026-03-01)');
    expect(posts[0]?.text).toContain('• Uploaded to Fastly');
    expect(posts[0]?.body).toMatchObject({ username: 'AutoTLS', unfurl_links: false });
    expect(posts[1]?.text).toMatch(/^:x: \*bad\.example\*: failed .*\[testmode\]/);
    expect(posts[1]?.text).toContain('• :warning: Fastly upload failed: HTTP 422');
  });

  it('posts a run summary with counts and the domains that did something', async () => {
    const { n } = notifier();
    await n.runFinished(runReport());
    const text = slack.delivered()[0]?.text ?? '';
    expect(text).toContain(':warning: *AutoTLS run partial*: 4 domains, 1 issued, 1 renewed, 1 skipped, 1 failed in 12.5 s (run run-123)');
    expect(text).toContain(':x: bad.example: failed (DNS-01 validation failed)');
    expect(text).not.toContain('ok.example');
  });

  it('posts alerts', async () => {
    const { n } = notifier();
    await n.alert('5 requests with a bad API key');
    expect(slack.delivered()[0]?.text).toBe(':rotating_light: *AutoTLS alert*: 5 requests with a bad API key');
  });

  it('retries a 500 from Slack and then delivers', async () => {
    const { n, log } = notifier();
    slack.failNext(1);
    await n.alert('retry me');
    expect(slack.posts.map((p) => p.status)).toEqual([500, 200]);
    expect(log.entries.filter((e) => e.level === 40)).toHaveLength(0);
  });

  it('logs, never throws, when Slack keeps answering 500; the log holds no webhook secret', async () => {
    const { n, log } = notifier();
    slack.setFailing(true);
    await expect(n.domainFinished(domainReport(), false)).resolves.toBeUndefined();
    expect(slack.posts.length).toBe(3); // first attempt + 2 retries
    const warn = log.entries.find((e) => e.msg === 'Slack notification failed');
    expect(warn).toMatchObject({ notifier: 'slack', kind: 'domain', err: expect.stringContaining('HTTP 500') });
    expect(log.raw()).not.toContain('SECRETKEY123');
  });

  it('does not retry a 4xx (for example an unknown webhook)', async () => {
    const { n, log } = notifier({ webhookUrl: `${slack.baseUrl}/not-a-service` });
    await n.alert('x');
    expect(log.entries.find((e) => e.msg === 'Slack notification failed')?.err).toContain('HTTP 404');
  });

  it('gives up after its timeout when Slack does not answer', async () => {
    const silent = await startTinyServer();
    silent.script = ['hang', 'hang', 'hang'];
    try {
      const { n, log } = notifier({ webhookUrl: `${silent.url}/services/T/B/X`, timeoutMs: 200 });
      const started = Date.now();
      await expect(n.alert('hello')).resolves.toBeUndefined();
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(log.entries.some((e) => e.msg === 'Slack notification failed')).toBe(true);
    } finally {
      await silent.stop();
    }
  });

  it('logs, never throws, when nothing listens', async () => {
    const closed = await startTinyServer();
    const url = `${closed.url}/services/T/B/X`;
    await closed.stop();
    const { n, log } = notifier({ webhookUrl: url });
    await expect(n.alert('hello')).resolves.toBeUndefined();
    expect(log.entries.some((e) => e.msg === 'Slack notification failed')).toBe(true);
  });

  it('never sends a private key or a configured secret', async () => {
    const { n } = notifier({ secrets: ['fastly-token-abcdef123456'] });
    await n.domainFinished(
      domainReport({ errors: [`upload failed for ${PRIVATE_KEY}`, 'token fastly-token-abcdef123456 rejected'], messages: [PRIVATE_KEY.slice(0, 80)] }),
      false,
    );
    const raw = slack.delivered()[0]?.raw ?? '';
    expect(raw).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(raw).not.toContain('fastly-token-abcdef123456');
    expect(raw).toContain('[REDACTED PRIVATE KEY]');
    expect(raw).toContain('[REDACTED]');
  });
});
