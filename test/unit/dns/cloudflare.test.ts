import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CloudflareApiError, CloudflareProvider, txtContent } from '../../../src/dns/cloudflare.js';
import { retryAfterMs } from '../../../src/dns/http-api.js';
import { DnsProviderError } from '../../../src/dns/provider.js';
import { startCloudflareFake, storedTxtContent, type CloudflareFake } from '../../testbed/cloudflare-fake.js';

const TOKEN = 'cf-test-token-0123456789abcdef';
const ZONE = { id: '023e105f4ecef8ad9ca31a8372d0c353', name: 'z54.test' };
const logger = pino({ level: 'silent' });

describe('CloudflareProvider (against the v4 fake)', () => {
  let fake: CloudflareFake;
  const provider = (overrides: Partial<ConstructorParameters<typeof CloudflareProvider>[0]> = {}): CloudflareProvider =>
    new CloudflareProvider({ apiToken: TOKEN, apiUrl: fake.url, timeoutMs: 2_000, ...overrides }, logger);

  beforeAll(async () => {
    fake = await startCloudflareFake({ token: TOKEN, zones: [ZONE, { id: 'other', name: 'other.test' }] });
  });
  afterAll(() => fake.stop());
  afterEach(() => {
    fake.requests.length = 0;
  });

  it('follows result_info pagination when listing', async () => {
    const p = provider({ perPage: 2 });
    const values = ['v1', 'v2', 'v3', 'v4', 'v5'];
    await p.addTxt(ZONE.id, '_acme-challenge.paged.z54.test', values);
    fake.requests.length = 0;
    expect((await p.listTxt(ZONE.id, '_acme-challenge.paged.z54.test')).sort()).toEqual(values);
    expect(fake.requests.map((r) => r.query.page)).toEqual(['1', '2', '3']);
    expect(fake.requests[0]?.query).toMatchObject({ type: 'TXT', name: '_acme-challenge.paged.z54.test', per_page: '2' });
    await p.removeTxt(ZONE.id, '_acme-challenge.paged.z54.test', values);
  });

  it('posts one quoted record per missing value, and deletes by id only the records of its own values', async () => {
    const p = provider();
    const fqdn = '_acme-challenge.diff.z54.test';
    await p.addTxt(ZONE.id, fqdn, ['a', 'b']);
    fake.requests.length = 0;
    await p.addTxt(ZONE.id, fqdn, ['b', 'c']);
    expect(fake.requests.map((r) => r.method)).toEqual(['GET', 'POST']);
    // Sent quoted, as Cloudflare's API reference asks for TXT content.
    expect(fake.records(ZONE.id).filter((r) => r.name === fqdn).map((r) => r.content).sort()).toEqual(['"a"', '"b"', '"c"']);
    fake.requests.length = 0;
    await p.removeTxt(ZONE.id, fqdn, ['a', 'c']);
    expect(fake.requests.map((r) => r.method)).toEqual(['GET', 'DELETE', 'DELETE']);
    expect(await p.listTxt(ZONE.id, fqdn)).toEqual(['b']);
    await p.removeTxt(ZONE.id, fqdn, ['b']);
  });

  it('the fake keeps several TXT records at one name and splits quoted content at 255 bytes, as Cloudflare documents', async () => {
    const fqdn = '_acme-challenge.split.z54.test';
    const long = 'x'.repeat(300);
    const p = provider();
    await p.addTxt(ZONE.id, fqdn, [long, 'short']);
    const stored = fake.records(ZONE.id).filter((r) => r.name === fqdn).map((r) => r.content).sort();
    expect(stored).toEqual([`"${'x'.repeat(255)}" "${'x'.repeat(45)}"`, '"short"'].sort());
    expect((await p.listTxt(ZONE.id, fqdn)).sort()).toEqual([long, 'short'].sort());
    expect(storedTxtContent('unquoted')).toBe('unquoted');
    await p.removeTxt(ZONE.id, fqdn, [long, 'short']);
    expect(await p.listTxt(ZONE.id, fqdn)).toEqual([]);
  });

  it('waits for Retry-After on 429 and then succeeds', async () => {
    fake.failNext(2, { status: 429, retryAfterSeconds: 0.1 });
    const started = performance.now();
    expect(await provider().listTxt(ZONE.id, '_acme-challenge.rl.z54.test')).toEqual([]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('gives up after a bounded number of 429s, with a clear message', async () => {
    fake.failNext(3, { status: 429, retryAfterSeconds: 0 });
    await expect(provider({ attempts: 3 }).listTxt(ZONE.id, '_acme-challenge.rl2.z54.test')).rejects.toThrow(/rate limited \(HTTP 429\)/);
    expect(fake.requests).toHaveLength(3);
  });

  it('caps a long Retry-After', () => {
    expect(retryAfterMs('3600', 5_000)).toBe(5_000);
    expect(retryAfterMs('2', 5_000)).toBe(2_000);
    expect(retryAfterMs(null, 5_000)).toBeUndefined();
    expect(retryAfterMs('garbage', 5_000)).toBeUndefined();
  });

  it('retries 5xx and timeouts', async () => {
    fake.failNext(1, { status: 503 });
    fake.failNext(1, { delayMs: 400 });
    expect(await provider({ timeoutMs: 200 }).listTxt(ZONE.id, '_acme-challenge.5xx.z54.test')).toEqual([]);
  });

  it('reports a missing or wrong token as an auth error without the token, and does not retry it', async () => {
    const wrong = 'definitely-not-the-token-4242';
    const error = await provider({ apiToken: wrong }).listTxt(ZONE.id, '_acme-challenge.x.z54.test').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect((error as CloudflareApiError).status).toBe(403);
    expect((error as Error).message).toMatch(/rejected the API token.*HTTP 403.*Authentication error \[10000\].*CLOUDFLARE_DNS_API_TOKEN/);
    expect((error as Error).message).not.toContain(wrong);
    expect(fake.requests).toHaveLength(1);

    const missing = await fetch(`${fake.url}/zones`).then((r) => r.json() as Promise<{ success: boolean; errors: { code: number }[] }>);
    expect(missing.success).toBe(false);
    expect(missing.errors[0]?.code).toBe(9106);
  });

  it('surfaces envelope errors (success: false, errors[]) with their codes', async () => {
    const error = await provider().listTxt('no-such-zone', '_acme-challenge.x.z54.test').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsProviderError);
    expect((error as CloudflareApiError).codes).toEqual([7003]);
    expect((error as Error).message).toMatch(/HTTP 400.*\[7003\]/);
  });

  it('treats a POST retried after a timeout (81058 identical record) as done', async () => {
    const fqdn = '_acme-challenge.retried-post.z54.test';
    fake.failNext(1, { delayMs: 0 }); // the GET that lists
    fake.failNext(1, { delayMs: 300 }); // the POST: applied, but after the client gave up
    await provider({ timeoutMs: 150 }).addTxt(ZONE.id, fqdn, ['x']);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.records(ZONE.id).filter((r) => r.name === fqdn).map((r) => r.content)).toEqual(['"x"']);
    expect(fake.requests.filter((r) => r.method === 'POST').map((r) => r.status).sort()).toEqual([200, 400]);
    await provider().removeTxt(ZONE.id, fqdn, ['x']);
  });

  it('treats a record deleted by someone else meanwhile (404, 81044) as removed', async () => {
    const p = provider();
    const fqdn = '_acme-challenge.deleted-meanwhile.z54.test';
    await p.addTxt(ZONE.id, fqdn, ['x', 'y']);
    const [first] = fake.records(ZONE.id).filter((r) => r.name === fqdn);
    fake.failNext(1, { delayMs: 0 }); // the GET that lists
    fake.failNext(1, { before: () => fake.removeRecord(first?.id ?? '') });
    await p.removeTxt(ZONE.id, fqdn, ['x', 'y']);
    expect(fake.requests.filter((r) => r.method === 'DELETE').map((r) => r.status).sort()).toEqual([200, 404]);
    expect(await p.listTxt(ZONE.id, fqdn)).toEqual([]);
  });

  it('finds zones by walking up the name', async () => {
    const p = provider();
    expect(await p.findZone('_acme-challenge.a.b.z54.test')).toBe(ZONE.id);
    expect(await p.findZone('_acme-challenge.nowhere.invalid')).toBeUndefined();
  });

  it('reads quoted TXT content as Cloudflare may return it', () => {
    expect(txtContent('plain')).toBe('plain');
    expect(txtContent('"quoted"')).toBe('quoted');
    expect(txtContent('"part1" "part2"')).toBe('part1part2');
    expect(txtContent('"with \\"escape\\""')).toBe('with "escape"');
  });
});
