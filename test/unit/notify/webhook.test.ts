import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/notify/format.js';
import { signWebhookBody, WebhookNotifier, type WebhookEvent } from '../../../src/notify/webhook.js';
import { captureLogger, domainReport, PRIVATE_KEY, runReport, startTinyServer, type TinyServer } from './helpers.js';

const SECRET = 'webhook-shared-secret-0123';
let server: TinyServer;

beforeAll(async () => {
  server = await startTinyServer();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  server.received.length = 0;
  server.script = [];
  server.fallback = 200;
});

function notifier(overrides: { secret?: string | undefined; url?: string; timeoutMs?: number } = {}) {
  const log = captureLogger();
  const n = new WebhookNotifier({
    url: overrides.url ?? `${server.url}/hooks/autotls`,
    secret: 'secret' in overrides ? overrides.secret : SECRET,
    logger: log.logger,
    redactor: new Redactor([SECRET]),
    retryDelayMs: 10,
    now: () => new Date('2026-01-02T03:04:05.000Z'),
    ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
  });
  return { n, log };
}

/** What a receiver does: recompute the HMAC of the raw body and compare in constant time. */
function verify(raw: string, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'));
  const given = Buffer.from(header.slice('sha256='.length));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

describe('WebhookNotifier', () => {
  it('POSTs JSON signed with HMAC-SHA256 of the raw body, with a timestamp', async () => {
    const { n } = notifier();
    await n.domainFinished(domainReport(), true);
    const req = server.received[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hooks/autotls');
    expect(req.headers['content-type']).toBe('application/json');
    expect(verify(req.raw, req.headers['x-autotls-signature'], SECRET)).toBe(true);
    expect(verify(req.raw, req.headers['x-autotls-signature'], 'another-secret')).toBe(false);
    expect(req.headers['x-autotls-signature']).toBe(signWebhookBody(SECRET, req.raw));
    expect(req.headers['x-autotls-timestamp']).toBe(String(Date.parse('2026-01-02T03:04:05.000Z') / 1000));
    const body = JSON.parse(req.raw) as WebhookEvent;
    expect(body).toMatchObject({ event: 'domain.finished', sentAt: '2026-01-02T03:04:05.000Z', testmode: true, domain: { domain: 'example.com' } });
    expect(body.text).toContain('*example.com*: renewed');
  });

  it('sends run summaries and alerts as their own events', async () => {
    const { n } = notifier();
    await n.runFinished(runReport());
    await n.alert('bad API key used 3 times');
    const [run, alert] = server.received.map((r) => JSON.parse(r.raw) as WebhookEvent);
    expect(run).toMatchObject({ event: 'run.finished', counts: { total: 4, failed: 1, issued: 1, renewed: 1, skipped: 1 }, run: { runId: 'run-123' } });
    expect(alert).toMatchObject({ event: 'alert', message: 'bad API key used 3 times' });
  });

  it('retries 5xx twice, then gives up and logs', async () => {
    server.script = [503, 502];
    const { n, log } = notifier();
    await n.alert('retry');
    expect(server.received).toHaveLength(3);
    expect(log.entries.filter((e) => e.msg === 'webhook notification failed')).toHaveLength(0);

    server.received.length = 0;
    server.fallback = 500;
    await expect(n.alert('again')).resolves.toBeUndefined();
    expect(server.received).toHaveLength(3);
    expect(log.entries.find((e) => e.msg === 'webhook notification failed')).toMatchObject({ attempts: 3, err: 'HTTP 500' });
  });

  it('does not retry a 4xx', async () => {
    server.fallback = 401;
    const { n, log } = notifier();
    await n.alert('x');
    expect(server.received).toHaveLength(1);
    expect(log.entries.find((e) => e.msg === 'webhook notification failed')).toMatchObject({ attempts: 1, err: 'HTTP 401' });
  });

  it('times out a receiver that never answers, without throwing', async () => {
    server.script = ['hang', 'hang', 'hang'];
    const { n, log } = notifier({ timeoutMs: 150 });
    const started = Date.now();
    await n.alert('slow');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(log.entries.find((e) => e.msg === 'webhook notification failed')).toMatchObject({ attempts: 3, err: 'timed out' });
  });

  it('never throws when nothing listens', async () => {
    const gone = await startTinyServer();
    await gone.stop();
    const { n, log } = notifier({ url: `${gone.url}/x` });
    await expect(n.alert('x')).resolves.toBeUndefined();
    expect(log.entries.some((e) => e.msg === 'webhook notification failed')).toBe(true);
  });

  it('sends unsigned (and warns once) without a secret', async () => {
    const { n, log } = notifier({ secret: undefined });
    await n.alert('a');
    await n.alert('b');
    expect(server.received[0]?.headers['x-autotls-signature']).toBeUndefined();
    expect(log.entries.filter((e) => String(e.msg).includes('unsigned'))).toHaveLength(1);
  });

  it('keeps private keys and the secret out of the body', async () => {
    const { n } = notifier();
    await n.domainFinished(domainReport({ errors: [`failed with ${PRIVATE_KEY}`, `secret was ${SECRET}`] }), false);
    const raw = server.received[0]?.raw ?? '';
    expect(raw).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(raw).not.toContain(SECRET);
  });
});
