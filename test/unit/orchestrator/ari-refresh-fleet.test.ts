// The ARI refresher on a fake clock, against a real (SQLite) database and a
// CA stand-in that answers RenewalInfo per certificate and records the order
// in which it was asked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { openDatabase, type Database } from '../../../src/db/client.js';
import { applyMigrations } from '../../../src/db/migrate.js';
import { createLogger } from '../../../src/logger.js';
import { DomainStateStore } from '../../../src/domains/state.js';
import { AriRefresher } from '../../../src/orchestrator/ari-refresh.js';
import type { CertificateIssuer, RenewalInfo } from '../../../src/certificates/issuer.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** RenewalInfo by ARI CertID (the test's CertID is `cert-<domain>`); records who was asked, in order. */
class AriCa implements Pick<CertificateIssuer, 'renewalInfo'> {
  readonly asked: string[] = [];
  readonly answers = new Map<string, RenewalInfo | Error>();
  /** Runs while the CA is being asked (e.g. a renewal taking the domain meanwhile). */
  onAsk: ((domain: string) => Promise<void>) | undefined;
  async renewalInfo(certId: string): Promise<RenewalInfo | undefined> {
    const domain = certId.replace(/^cert-/, '');
    this.asked.push(domain);
    await this.onAsk?.(domain);
    const answer = this.answers.get(domain);
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

let dir: string;
let database: Database;
let clock: FakeClock;
let ca: AriCa;
let refresher: AriRefresher;
let state: DomainStateStore;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'autotls-ari-'));
  const url = `file:${path.join(dir, 'test.db')}`;
  const logger = createLogger({ level: 'silent' });
  await applyMigrations(url, 'sqlite', logger);
  database = await openDatabase(url, 'sqlite');
  clock = new FakeClock('2026-06-01T00:00:00Z');
  ca = new AriCa();
  state = new DomainStateStore(database.client, clock);
  refresher = new AriRefresher({
    state,
    issuer: async () => ca as unknown as CertificateIssuer,
    clock,
    random: () => 0.5,
    logger,
  });
});

afterEach(async () => {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Seed {
  ariCheckAfter?: Date | null;
  nextRenewalAt?: Date;
  certNotAfter?: Date;
  status?: string;
  owned?: boolean;
  leaseOwner?: string;
}

async function seed(name: string, s: Seed = {}): Promise<number> {
  const now = clock.now().getTime();
  const d = await database.client.domain.create({
    data: { name, tld: 'test', zoneId: 'z.test', owned: s.owned ?? true, status: s.status ?? null, tlsIssuer: 'Lets Encrypt', tlsExpDate: s.certNotAfter ?? new Date(now + 60 * DAY) },
  });
  await database.client.domainState.create({
    data: {
      domainId: d.id,
      phase: 'recorded',
      certId: `cert-${name}`,
      certNotBefore: new Date(now - 30 * DAY),
      certNotAfter: s.certNotAfter ?? new Date(now + 60 * DAY),
      nextRenewalAt: s.nextRenewalAt ?? new Date(now + 30 * DAY),
      ariCheckAfter: s.ariCheckAfter === undefined ? null : s.ariCheckAfter,
      ...(s.leaseOwner ? { leaseOwner: s.leaseOwner, leaseExpiresAt: new Date(now + HOUR) } : {}),
    },
  });
  ca.answers.set(name, { suggestedWindow: { start: new Date(now + 40 * DAY), end: new Date(now + 42 * DAY) }, retryAfterSeconds: 21_600 });
  return d.id;
}

const row = (name: string) => database.client.domainState.findFirstOrThrow({ where: { domain: { name } } });

describe("the CA's Retry-After, clamped to between 1 minute and 24 hours", () => {
  it.each([
    [21_600, 6 * HOUR],
    [3600, HOUR],
    [10, MINUTE],
    [5 * 86_400, DAY],
    [undefined, 6 * HOUR],
  ])('Retry-After %s s: next check in %s ms', async (retryAfterSeconds, expectedMs) => {
    await seed('a.test');
    const now = clock.now().getTime();
    ca.answers.set('a.test', { suggestedWindow: { start: new Date(now + DAY), end: new Date(now + 2 * DAY) }, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
    expect(await refresher.refresh()).toBe(1);
    expect((await row('a.test')).ariCheckAfter).toEqual(new Date(now + expectedMs));

    // Not asked again before then, asked again as soon as it has passed.
    clock.advance(expectedMs - 1000);
    await refresher.refresh();
    expect(ca.asked).toEqual(['a.test']);
    clock.advance(1000);
    await refresher.refresh();
    expect(ca.asked).toEqual(['a.test', 'a.test']);
  });
});

describe('the whole fleet, in order of next check', () => {
  it('asks never-checked certificates first, then the longest waiting, page by page', async () => {
    const now = clock.now().getTime();
    await seed('late.test', { ariCheckAfter: new Date(now - HOUR) });
    await seed('never1.test');
    await seed('oldest.test', { ariCheckAfter: new Date(now - 3 * DAY) });
    await seed('future.test', { ariCheckAfter: new Date(now + HOUR) });
    await seed('never2.test');
    await seed('middle.test', { ariCheckAfter: new Date(now - DAY) });

    // Each page is one raw query (per index walk) whose last parameter is its LIMIT.
    const pages: number[] = [];
    const queryRaw = database.client.$queryRaw.bind(database.client);
    database.client.$queryRaw = ((query: TemplateStringsArray, ...values: unknown[]) => {
      pages.push(Number(values.at(-1)));
      return queryRaw(query, ...values);
    }) as typeof queryRaw;

    const results = await refresher.refreshDue({ pageSize: 2, concurrency: 1 });
    expect(ca.asked).toEqual(['never1.test', 'never2.test', 'oldest.test', 'middle.test', 'late.test']);
    expect(results.map((r) => r.status)).toEqual(['moved', 'moved', 'moved', 'moved', 'moved']);
    // Never more than a page at once.
    expect(Math.max(...pages)).toBe(2);
    expect(pages.length).toBeGreaterThanOrEqual(3);
  });

  it('takes the most overdue first when limited', async () => {
    const now = clock.now().getTime();
    await seed('b.test', { ariCheckAfter: new Date(now - HOUR) });
    await seed('c.test', { ariCheckAfter: new Date(now - 2 * HOUR) });
    await seed('d.test', { ariCheckAfter: new Date(now - 3 * HOUR) });
    expect(await refresher.refresh(2, 1)).toBe(2);
    expect(ca.asked).toEqual(['d.test', 'c.test']);
  });

  it('keeps going past a domain a run holds, and leaves that domain alone', async () => {
    const now = clock.now().getTime();
    await seed('held.test', { leaseOwner: 'other/run' });
    await seed('free.test', { ariCheckAfter: new Date(now - HOUR) });
    await refresher.refresh();
    expect(ca.asked).toEqual(['free.test']);
    expect((await row('held.test')).ariCheckAfter).toBeNull();

    // Forced (`ari refresh --all`), the held one is asked but not written.
    const forced = await refresher.refreshNow();
    expect(forced.find((r) => r.domain === 'held.test')?.status).toBe('busy');
    expect((await row('held.test')).ariCheckAfter).toBeNull();
  });
});

describe('what is never checked', () => {
  it('skips expired certificates (RFC 9773 §4.3) and removed domains', async () => {
    const now = clock.now().getTime();
    await seed('expired.test', { certNotAfter: new Date(now - MINUTE) });
    await seed('parked.test', { status: 'Parked' });
    await seed('gone.test', { status: 'Expired' });
    await seed('not-owned.test', { owned: false });
    await seed('live.test');
    await refresher.refresh();
    expect(ca.asked).toEqual(['live.test']);
    await refresher.refreshNow();
    expect(ca.asked).toEqual(['live.test', 'live.test']);

    // A certificate that expires between two checks drops out.
    clock.set(new Date(now + 61 * DAY));
    await refresher.refreshNow();
    expect(ca.asked).toEqual(['live.test', 'live.test']);
  });
});

describe('what a check records', () => {
  it('moves the renewal time to now for a window in the past, and keeps a time that is still inside the window', async () => {
    const now = clock.now().getTime();
    await seed('revoked.test');
    await seed('steady.test', { nextRenewalAt: new Date(now + 41 * DAY) });
    ca.answers.set('revoked.test', { suggestedWindow: { start: new Date(now - 2 * DAY), end: new Date(now - DAY) }, retryAfterSeconds: 21_600 });
    const results = await refresher.refreshNow({ concurrency: 1 });
    expect(results).toEqual([
      expect.objectContaining({ domain: 'revoked.test', status: 'moved', after: new Date(now) }),
      expect.objectContaining({ domain: 'steady.test', status: 'unchanged', after: new Date(now + 41 * DAY) }),
    ]);
    expect((await row('revoked.test')).nextRenewalAt).toEqual(new Date(now));
    expect((await row('steady.test')).nextRenewalAt).toEqual(new Date(now + 41 * DAY));
  });

  it('after a failed check keeps the renewal time and asks again in an hour', async () => {
    const now = clock.now().getTime();
    await seed('flaky.test');
    ca.answers.set('flaky.test', new Error('socket hang up'));
    const [result] = await refresher.refreshDue();
    expect(result).toMatchObject({ status: 'failed', error: expect.stringContaining('asking the CA for renewal information about flaky.test: socket hang up') });
    const r = await row('flaky.test');
    expect(r.nextRenewalAt).toEqual(new Date(now + 30 * DAY));
    expect(r.ariCheckAfter).toEqual(new Date(now + HOUR));
  });

  it('does not overwrite the schedule of a certificate a run recorded meanwhile', async () => {
    const id = await seed('raced.test');
    // A run renews between the read and the write: the recorded certificate is another one.
    const written = await state.recordAriCheck(id, { certId: 'cert-older', nextRenewalAt: clock.now(), ariCheckAfter: clock.now() });
    expect(written).toBe(false);
    expect((await row('raced.test')).nextRenewalAt).toEqual(new Date(clock.now().getTime() + 30 * DAY));
  });

  it('one domain on request, whatever its next check says', async () => {
    const now = clock.now().getTime();
    await seed('one.test', { ariCheckAfter: new Date(now + 20 * HOUR) });
    await seed('other.test', { ariCheckAfter: new Date(now + 20 * HOUR) });
    expect(await refresher.refresh()).toBe(0);
    const results = await refresher.refreshNow({ domain: 'one.test' });
    expect(results.map((r) => r.domain)).toEqual(['one.test']);
    expect(ca.asked).toEqual(['one.test']);
    expect(await refresher.nextCheckAt()).toEqual(new Date(now + 6 * HOUR));
  });
});

describe('a page of checks is written at once (fleet size: thousands of checks every few hours)', () => {
  const fleet = async (n: number): Promise<Map<string, number>> => {
    const ids = new Map<string, number>();
    const now = clock.now().getTime();
    // Renewal times already inside the window [40 d, 42 d]: the usual check changes only the next check.
    for (let i = 0; i < n; i++) {
      const name = `p${String(i).padStart(2, '0')}.test`;
      ids.set(name, await seed(name, { nextRenewalAt: new Date(now + 41 * DAY), ariCheckAfter: new Date(now - HOUR) }));
    }
    return ids;
  };

  it('writes the unchanged checks of a page with one statement, not one per certificate', async () => {
    await fleet(30);
    const now = clock.now().getTime();
    const oneByOne = vi.spyOn(state, 'recordAriCheck');
    const results = await refresher.refreshDue({ pageSize: 100 });
    expect(results).toHaveLength(30);
    expect(results.every((r) => r.status === 'unchanged' && r.nextCheck?.getTime() === now + 6 * HOUR)).toBe(true);
    expect(oneByOne).not.toHaveBeenCalled();
    const rows = await database.client.domainState.findMany();
    expect(rows.every((r) => r.ariCheckAfter?.getTime() === now + 6 * HOUR && r.nextRenewalAt?.getTime() === now + 41 * DAY)).toBe(true);
  });

  it('leaves alone a domain a run took while the CA was asked, and writes the rest of the page', async () => {
    const ids = await fleet(10);
    const now = clock.now().getTime();
    ca.onAsk = async (domain) => {
      if (domain === 'p03.test') expect(await state.claimLease(ids.get(domain) as number, 'run-1', HOUR)).toBe(true);
    };
    const results = await refresher.refreshDue();
    expect(results.find((r) => r.domain === 'p03.test')).toEqual({ domain: 'p03.test', status: 'busy', before: new Date(now + 41 * DAY), after: new Date(now + 41 * DAY) });
    expect(results.filter((r) => r.status === 'unchanged')).toHaveLength(9);
    expect((await row('p03.test')).ariCheckAfter).toEqual(new Date(now - HOUR));
    expect((await row('p04.test')).ariCheckAfter).toEqual(new Date(now + 6 * HOUR));
  });
});
