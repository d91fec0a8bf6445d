import { IncomingWebhook } from '@slack/webhook';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSlackFake, type SlackFake } from './slack-fake.js';

describe('slack fake', () => {
  let slack: SlackFake;

  beforeAll(async () => {
    slack = await startSlackFake();
  });
  beforeEach(() => {
    slack.reset();
  });
  afterAll(async () => {
    await slack.stop();
  });

  it('accepts a post from the official IncomingWebhook and records it', async () => {
    const hook = new IncomingWebhook(slack.url('T123', 'B456/secret'));
    const result = await hook.send({ text: 'certificate renewed for z01.test' });
    expect(result.text).toBe('ok');
    expect(slack.posts).toHaveLength(1);
    const post = slack.posts[0]!;
    expect(post).toMatchObject({ path: '/services/T123/B456/secret', workspace: 'T123', key: 'B456/secret', status: 200, text: 'certificate renewed for z01.test' });
    expect(post.headers['content-type']).toContain('application/json');
    expect(slack.url()).toBe(`${slack.baseUrl}/services/T000/B000/XXXX`);
  });

  it('answers 500 internal_error when told to, and send rejects', async () => {
    const hook = new IncomingWebhook(slack.url());
    slack.failNext(1);
    await expect(hook.send('first')).rejects.toThrow(/500/);
    await expect(hook.send('second')).resolves.toEqual({ text: 'ok' });
    expect(slack.posts.map((p) => p.status)).toEqual([500, 200]);
    expect(slack.delivered().map((p) => p.text)).toEqual(['second']);

    slack.setFailing(true);
    await expect(hook.send('third')).rejects.toThrow(/internal_error|500/);
    slack.setFailing(false);
    await expect(hook.send('fourth')).resolves.toEqual({ text: 'ok' });
  });

  it('a retrying webhook gets through after one failure', async () => {
    const hook = new IncomingWebhook(slack.url(), { retryConfig: { retries: 2, minTimeout: 10, maxTimeout: 20 } });
    slack.failNext(1);
    await hook.send('retried');
    expect(slack.posts.map((p) => p.status)).toEqual([500, 200]);
    await expect(slack.waitForPosts(1, 100)).resolves.toHaveLength(1);
  });

  it('answers 429 with Retry-After past a short burst, per webhook, as Slack documents (1 message a second)', async () => {
    slack.setRateLimit({ perSecond: 1, burst: 2 });
    const post = (url: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' });
    expect((await post(slack.url())).status).toBe(200);
    expect((await post(slack.url())).status).toBe(200);
    const limited = await post(slack.url());
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await post(slack.url('T000', 'B999/OTHER'))).status).toBe(200); // another webhook has its own allowance
    await new Promise((r) => setTimeout(r, 1_050));
    expect((await post(slack.url())).status).toBe(200);
    expect(slack.posts.map((p) => p.status)).toEqual([200, 200, 429, 200, 200]);
  });

  it('answers like Slack for bad JSON, empty messages and unknown paths', async () => {
    const bad = await fetch(slack.url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe('invalid_payload');

    const empty = await fetch(slack.url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(empty.status).toBe(400);
    expect(await empty.text()).toBe('no_text');

    const unknown = await fetch(`${slack.baseUrl}/hooks/nope`, { method: 'POST', body: '{"text":"x"}' });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('no_service');
    expect(unknown.headers.get('content-type')).toBe('text/html');

    expect(slack.posts.map((p) => p.status)).toEqual([400, 400]);
    expect(slack.delivered()).toHaveLength(0);
  });
});
