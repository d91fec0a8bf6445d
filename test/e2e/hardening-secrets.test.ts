// Secrets never appear in output. One end-to-end run (three domains: one issued,
// one failing at Fastly with an error body that echoes a private key, one failing
// at DNS; the first Slack post answers 500) with a unique marker value for every
// configured secret, then a resume run. Every log line, run document, HTTP answer
// (body and headers), notification (Slack, signed webhook) and database row is
// searched for private-key PEMs, the markers, the real TSIG secret, the ACME
// account key and the issued keys. Zones z33–z35.
//
// The harness logger is deliberately NOT given the secret values to scrub (the
// service's own logger is): a secret may not reach a log line in the first place.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFastlyFake, type FastlyFake } from '../testbed/fastly-fake.js';
import { ACCOUNT_SECRET, challengeRecords, createDeployment, startHarness, stopDeployment, TLS_CONFIGURATION_ID, type Harness, type SharedDeployment } from './harness.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';

const MARK = `m${Date.now().toString(36)}`;
const API_MARKER = `apikey-${MARK}-7c1f0e2d9b8a`;
const FASTLY_MARKER = `fastlytok-${MARK}-3e4d5c6b`;
const AWS_MARKER = `awssecret-${MARK}-9f8e7d6c5b4a`;
const AWS_ID_MARKER = `AKIA${MARK.toUpperCase()}X`;
const SLACK_MARKER = `slackpath${MARK}q1w2e3`;
const WEBHOOK_MARKER = `whsecret-${MARK}-a1b2c3d4`;

const OK = 'z33.test';
const FASTLY_FAILS = 'z34.test';
const DNS_FAILS = 'dnsfail.z35.test';

let shared: SharedDeployment;
let fastly: FastlyFake;
let h: Harness;
let webhook: { server: Server; url: string; posts: Array<{ headers: IncomingHttpHeaders; body: string }> };
/** Every piece of output a person or another system could see. */
const seen: Array<{ where: string; text: string }> = [];

function record(where: string, text: string): void {
  seen.push({ where, text });
}

async function call(path: string, key: string | null = API_MARKER): Promise<Response> {
  const res = await fetch(`${h.url}${path}`, { headers: key === null ? {} : { Authorization: `Bearer ${key}` } });
  const body = await res.text();
  record(`HTTP ${path} body`, body);
  record(`HTTP ${path} headers`, JSON.stringify([...res.headers.entries()]));
  return new Response(body, { status: res.status, headers: res.headers });
}

async function startWebhookSink(): Promise<typeof webhook> {
  const posts: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      posts.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, posts };
}

beforeAll(async () => {
  shared = await createDeployment();
  fastly = await startFastlyFake({ token: FASTLY_MARKER, configurationIds: [TLS_CONFIGURATION_ID] });
  webhook = await startWebhookSink();
  h = await startHarness({
    shared,
    env: {
      API_KEY: API_MARKER,
      FASTLY_API_TOKEN: FASTLY_MARKER,
      FASTLY_API_URL: fastly.url,
      AWS_ACCESS_KEY: AWS_ID_MARKER,
      AWS_SECRET_KEY: AWS_MARKER,
      SLACK_WEBHOOK_URL: shared.slack.url('T0HARDEN', `B0HARDEN/${SLACK_MARKER}`),
      NOTIFY_WEBHOOK_URL: webhook.url,
      NOTIFY_WEBHOOK_SECRET: WEBHOOK_MARKER,
      CONCURRENCY: '1',
      DNS_PROPAGATION_TIMEOUT: '5',
    },
  });
  // Processed one at a time in tls_exp_date order, so the Fastly fault meets FASTLY_FAILS.
  const days = (n: number): Date => new Date(Date.now() + n * 86_400_000);
  await h.addDomain(DNS_FAILS, 'z35.invalid', { tlsExpDate: days(5) }); // a zone BIND does not serve: the update is refused
  await h.addDomain(FASTLY_FAILS, FASTLY_FAILS, { tlsExpDate: days(10) });
  await h.addDomain(OK, OK, { tlsExpDate: days(20) });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await fastly?.stop();
  await new Promise<void>((resolve) => (webhook ? webhook.server.close(() => resolve()) : resolve()));
  if (shared) await stopDeployment(shared);
});

describe('secrets never appear in output', () => {
  it('a run with failures and a Slack 500, then a resume run', async () => {
    // An upstream error body that echoes a private key (as some SDKs and APIs do).
    const echoed = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    fastly.inject({
      type: 'status',
      status: 400,
      path: '/tls/private_keys',
      method: 'POST',
      body: { errors: [{ title: 'Bad Request', detail: `Invalid key ${echoed} for token ${FASTLY_MARKER}` }] },
    });
    shared.slack.failNext(1);

    const res = await call('/process');
    const doc = (await res.json()) as RunDocument;
    expect(res.status, JSON.stringify(doc)).toBe(502);
    const outcome = Object.fromEntries(doc.results.map((r) => [r.domain, r.outcome]));
    expect(outcome).toEqual({ [OK]: 'issued', [FASTLY_FAILS]: 'failed', [DNS_FAILS]: 'failed' });
    expect(doc.results.find((r) => r.domain === FASTLY_FAILS)?.errors.join(' ')).toMatch(/HTTP 400.*\[REDACTED PRIVATE KEY\]/);

    // The stored certificate of the Fastly failure is uploaded without a new order.
    const resumed = await call(`/single/${FASTLY_FAILS}`);
    expect(resumed.status, await resumed.clone().text()).toBe(200);
    expect(await h.components.database.client.acmeOrder.count({ where: { domain: FASTLY_FAILS } })).toBe(1);

    // Bad requests of every kind, with and without a key.
    expect((await call('/process', `${API_MARKER}x`)).status).toBe(401);
    expect((await call('/process', null)).status).toBe(401);
    expect((await call('/single/nothere.z33.test')).status).toBe(404);
    expect((await call('/single/a%2Fb.z33.test')).status).toBe(400);
    for (const path of ['/healthcheck', '/readyz', '/metrics', '/runs?limit=100']) expect((await call(path)).status).toBe(200);
    const runs = (JSON.parse(seen[seen.length - 2]?.text ?? '{}') as { runs: RunDocument[] }).runs;
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const run of runs) expect((await call(`/runs/${run.runId}`)).status).toBe(200);

    // Everything the run sent or left behind.
    // One Slack summary per run (issue 13): the /process run's (after its 500) and the /single run's.
    await shared.slack.waitForPosts(2);
    expect(shared.slack.posts.some((p) => p.status === 500)).toBe(true);
    for (const p of shared.slack.posts) {
      record('slack body', p.raw);
      record('slack headers', JSON.stringify(p.headers));
      // The text as Slack shows it: JSON escapes line breaks, so a multi-line key could hide in `raw`.
      if (p.text !== undefined) record('slack text', p.text);
    }
    expect(webhook.posts.length).toBeGreaterThan(0);
    for (const p of webhook.posts) {
      record('webhook body', p.body);
      record('webhook headers', JSON.stringify(p.headers));
      const text = (JSON.parse(p.body) as { text?: unknown }).text;
      if (typeof text === 'string') record('webhook text', text);
    }
    const db = h.components.database.client;
    const tables = {
      domains: await db.domain.findMany(),
      tls: await db.tls.findMany(),
      state: await db.domainState.findMany(),
      orders: await db.acmeOrder.findMany(),
      accounts: await db.acmeAccountState.findMany(),
      runs: await db.run.findMany(),
      results: await db.runResult.findMany(),
    };
    record('database', JSON.stringify(tables));
    for (const line of h.logLines) record('log', line);
    expect(h.logLines.length).toBeGreaterThan(50);
    expect(await challengeRecords(OK)).toEqual([]);
  });

  it('no output holds a private key, a configured secret, the account key or an issued key', () => {
    const tb = inject('testbed');
    const accountJwk = JSON.parse(readFileSync(join(shared.secretsDir, ...ACCOUNT_SECRET.split('/')), 'utf8')) as Record<string, string>;
    // Every certificate key in the store: stored (`private_key`) or kept for an
    // unfinished order (`pending`, JSON).
    const issuedKeyLines = readdirSync(shared.secretsDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && (e.name === 'private_key' || e.name === 'pending'))
      .flatMap((e) => readFileSync(join(e.parentPath, e.name), 'utf8').replace(/\\n/g, '\n').match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END/g) ?? [])
      .flatMap((pem) => pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l)));
    expect(issuedKeyLines.length).toBeGreaterThan(0);
    const forbidden: Record<string, string> = {
      'PEM private key': 'PRIVATE KEY-----',
      API_KEY: API_MARKER,
      FASTLY_API_TOKEN: FASTLY_MARKER,
      AWS_SECRET_KEY: AWS_MARKER,
      'Slack webhook path': SLACK_MARKER,
      NOTIFY_WEBHOOK_SECRET: WEBHOOK_MARKER,
      RFC2136_TSIG_SECRET: tb.dns.tsigSecret,
      'ACME account key (d)': accountJwk.d as string,
      ...Object.fromEntries(issuedKeyLines.map((l, i) => [`issued key line ${i}`, l])),
    };
    const leaks: string[] = [];
    for (const { where, text } of seen) {
      for (const [what, value] of Object.entries(forbidden)) {
        if (value && text.includes(value)) leaks.push(`${what} in ${where}: ${text.slice(Math.max(0, text.indexOf(value) - 80), text.indexOf(value) + 40)}`);
      }
    }
    expect(leaks).toEqual([]);
    expect(seen.length).toBeGreaterThan(100);
  });
});
