import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/notify/format.js';
import { SlackPacer } from '../../../src/notify/pacing.js';
import { SlackNotifier, type SlackNotifierOptions } from '../../../src/notify/slack.js';
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

/** Unpaced unless a test is about pacing: the fake still allows a burst of 5. */
function notifier(overrides: { webhookUrl?: string; timeoutMs?: number; secrets?: string[] } & Partial<SlackNotifierOptions> = {}) {
  const log = captureLogger();
  const { secrets, ...rest } = overrides;
  const n = new SlackNotifier({
    webhookUrl: slack.url('T0001', 'B0001/SECRETKEY123'),
    logger: log.logger,
    redactor: new Redactor(secrets ?? []),
    retryMinDelayMs: 10,
    pacer: new SlackPacer({ minIntervalMs: 0 }),
    ...rest,
  });
  return { n, log };
}

describe('SlackNotifier through @slack/webhook', () => {
  it('posts nothing for a run that had nothing to do (a continuous schedule wakes often)', async () => {
    const { n } = notifier();
    const before = slack.delivered().length;
    await n.runFinished(runReport({ status: 'nothing-to-do', results: [] }));
    expect(slack.delivered()).toHaveLength(before);
    await n.runFinished(runReport({ status: 'succeeded', results: [domainReport()] }));
    expect(slack.delivered()).toHaveLength(before + 1);
  });

  // Behaviour change (issue 13, Slack pacing): a finished domain no longer posts
  // its own message; its line is folded into the run summary. Same assertions on
  // the words, now in one message.
  it('folds the per-domain lines (status emoji, expiry, errors) into one run summary', async () => {
    const { n } = notifier();
    await n.domainFinished(domainReport(), false);
    await n.domainFinished(domainReport({ domain: 'bad.example', outcome: 'failed', errors: ['Fastly upload failed: HTTP 422'] }), true);
    expect(slack.posts).toHaveLength(0);
    await n.runFinished(
      runReport({
        testmode: true,
        results: [domainReport(), domainReport({ domain: 'bad.example', outcome: 'failed', errors: ['Fastly upload failed: HTTP 422'], messages: ['Uploaded to Fastly'] })],
      }),
    );
    const posts = slack.delivered();
    expect(posts).toHaveLength(1);
    expect(posts[0]?.workspace).toBe('T0001');
    expect(posts[0]?.body).toMatchObject({ username: 'AutoTLS', unfurl_links: false });
    const text = posts[0]?.text ?? '';
    expect(text).toMatch(/^:warning: \*AutoTLS run partial\* \[testmode\]: 2 domains/);
    expect(text).toContain(':white_check_mark: *example.com*: renewed (expires 2026-03-01)');
    expect(text).toContain(':x: *bad.example*: failed (expires 2026-03-01)');
    expect(text).toContain('• :warning: Fastly upload failed: HTTP 422');
    expect(text).toContain('• Uploaded to Fastly');
    // Failures come first.
    expect(text.indexOf('bad.example')).toBeLessThan(text.indexOf('example.com*'));
  });

  it('posts a run summary with counts and the domains that did something', async () => {
    const { n } = notifier();
    await n.runFinished(runReport());
    const text = slack.delivered()[0]?.text ?? '';
    expect(text).toContain(':warning: *AutoTLS run partial*: 4 domains, 1 issued, 1 renewed, 1 skipped, 1 failed in 12.5 s (run run-123)');
    expect(text).toContain(':x: *bad.example*: failed');
    expect(text).toContain('• :warning: DNS-01 validation failed');
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
    await expect(n.runFinished(runReport())).resolves.toBeUndefined();
    expect(slack.posts.length).toBe(3); // first attempt + 2 retries
    const warn = log.entries.find((e) => e.msg === 'Slack notification failed');
    expect(warn).toMatchObject({ notifier: 'slack', kind: 'run', err: expect.stringContaining('HTTP 500') });
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
    await n.runFinished(
      runReport({
        results: [
          domainReport({ outcome: 'failed', errors: [`upload failed for ${PRIVATE_KEY}`, 'token fastly-token-abcdef123456 rejected'], messages: [PRIVATE_KEY.slice(0, 80)] }),
        ],
      }),
    );
    const raw = slack.delivered()[0]?.raw ?? '';
    expect(raw).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(raw).not.toContain('fastly-token-abcdef123456');
    expect(raw).toContain('[REDACTED PRIVATE KEY]');
    expect(raw).toContain('[REDACTED]');
  });
});

describe('SlackNotifier pacing and Slack rate limits', () => {
  it('honours a 429 and its Retry-After, then delivers (@slack/webhook alone gives up on a 429)', async () => {
    slack.setRateLimit({ perSecond: 1, burst: 1 });
    const { n, log } = notifier();
    await n.alert('first');
    const started = Date.now();
    await n.alert('second');
    expect(slack.posts.map((p) => p.status)).toEqual([200, 429, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // Retry-After: 1
    expect(slack.delivered().map((p) => p.text)).toEqual([':rotating_light: *AutoTLS alert*: first', ':rotating_light: *AutoTLS alert*: second']);
    expect(log.entries.find((e) => e.msg === 'Slack rate limit (429): waiting for its Retry-After')).toMatchObject({ retryAfterMs: 1000 });
    expect(log.entries.some((e) => e.msg === 'Slack notification failed')).toBe(false);
  });

  it('retries a 429 a bounded number of times, then logs', async () => {
    slack.setRateLimit({ perSecond: 1, burst: 0 });
    const { n, log } = notifier({ rateLimitRetries: 1 });
    await expect(n.alert('never through')).resolves.toBeUndefined();
    expect(slack.posts.map((p) => p.status)).toEqual([429, 429]);
    expect(log.entries.find((e) => e.msg === 'Slack notification failed')).toMatchObject({ kind: 'alert', attempts: 2, err: expect.stringContaining('rate limited 2 times') });
  });

  it('does not wait for a Retry-After longer than its bound', async () => {
    slack.setRateLimit({ perSecond: 0.01, burst: 0 }); // Retry-After: 100
    const { n, log } = notifier();
    const started = Date.now();
    await n.alert('later');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(slack.posts.map((p) => p.status)).toEqual([429]);
    expect(log.entries.find((e) => e.msg === 'Slack notification failed')?.err).toContain('Retry-After 100 s is too long');
  });

  it('sends at most one message a second across notifiers sharing the process pacer; the fake never says 429', async () => {
    slack.setRateLimit({ perSecond: 1, burst: 1 });
    const pacer = new SlackPacer(); // 1 s, as the process-wide one
    const a = notifier({ pacer });
    const b = notifier({ pacer });
    await Promise.all([a.n.alert('one'), b.n.alert('two'), a.n.runFinished(runReport())]);
    expect(slack.posts.map((p) => p.status)).toEqual([200, 200, 200]);
    const at = slack.posts.map((p) => p.receivedAt.getTime());
    for (let i = 1; i < at.length; i++) expect((at[i] as number) - (at[i - 1] as number)).toBeGreaterThanOrEqual(950);
  });

  it('splits a very large run over at most 5 messages under 4,000 characters, failures first, and counts the rest', async () => {
    const results = [
      ...Array.from({ length: 300 }, (_, i) => domainReport({ domain: `ok${i}.example`, outcome: 'renewed' })),
      ...Array.from({ length: 300 }, (_, i) => domainReport({ domain: `bad${i}.example`, outcome: 'failed', errors: [`DNS-01 validation failed for bad${i}.example: ${'x'.repeat(100)}`] })),
      ...Array.from({ length: 50 }, (_, i) => domainReport({ domain: `same${i}.example`, outcome: 'skipped' })),
    ];
    const { n } = notifier();
    await n.runFinished(runReport({ results }));
    const texts = slack.delivered().map((p) => p.text ?? '');
    expect(texts).toHaveLength(5);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(3_500);
    expect(texts[0]).toMatch(/^:warning: \*AutoTLS run partial\*: 650 domains, 0 issued, 300 renewed, 50 skipped, 300 failed/);
    expect(texts[1]).toMatch(/^\(run run-123, continued\)/);
    expect(texts[0]).toContain('*bad0.example*: failed');
    expect(texts.join('\n')).not.toContain('same0.example');
    const shown = texts.join('\n').match(/^:(x|white_check_mark): \*/gm)?.length ?? 0;
    expect(texts[4]).toContain(`... and ${600 - shown} more domains: see GET /runs/run-123`);
  });
});
