// `autotls forecast` through the real binary, on a SQLite database holding the
// issue's scenario (d): 2,000 domains on 45-day certificates, renewing by the
// seed's cron line (every 8 hours, 10 a run). The forecast must name the
// shortfall at least 14 days before the first certificate expires.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { ensureBuilt, jsonOf, runCli, show } from './cli-helpers.js';
import type { Forecast } from '../../src/orchestrator/forecast.js';

const DAY = 86_400_000;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'autotls-forecast-'));
  const url = `file:${join(dir, 'autotls.db')}`;
  await applyMigrations(url, 'sqlite', createLogger({ level: 'silent' }));
  const db = await openDatabase(url, 'sqlite');
  const now = Date.now();
  // 45-day certificates renewed at two thirds: 2,000 spread over 30 days of renewal times.
  const rows = Array.from({ length: 2000 }, (_, i) => {
    const nextRenewal = now + (i % 30) * DAY + 3_600_000;
    const notAfter = nextRenewal + 15 * DAY;
    return { i, nextRenewal, notAfter, notBefore: notAfter - 45 * DAY };
  });
  await db.client.domain.createMany({
    data: rows.map((r) => ({ name: `f${r.i}.test`, tld: 'test', zoneId: 'z', owned: true, tlsIssuer: 'Lets Encrypt', tlsExpDate: new Date(r.notAfter) })),
  });
  const ids = await db.client.domain.findMany({ select: { id: true, name: true } });
  const byName = new Map(ids.map((d) => [d.name, d.id]));
  await db.client.domainState.createMany({
    data: rows.map((r) => ({
      domainId: byName.get(`f${r.i}.test`) as number,
      phase: 'recorded',
      nextRenewalAt: new Date(r.nextRenewal),
      certNotAfter: new Date(r.notAfter),
      certNotBefore: new Date(r.notBefore),
    })),
  });
  await db.close();
  env = { DATABASE_URL: url, SCHEDULE: '0 */8 * * *', MAX_DOMAINS_PER_RUN: '10', ACME_PROFILE: 'tlsserver', LOG_LEVEL: 'error' };
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('autotls forecast', () => {
  it('names the first expiry of an under-provisioned fleet at least 14 days ahead', async () => {
    const r = await runCli(['forecast', '--days', '60', '--json'], env, dir);
    expect(r.code, show(r)).toBe(0);
    const f = jsonOf<Forecast>(r);
    expect(f.capacityPerDay).toBe(30);
    expect(f.neededPerDay).toBeGreaterThanOrEqual(60);
    expect(f.firstExpiry).not.toBeNull();
    expect(f.daysUntilFirstExpiry as number).toBeGreaterThanOrEqual(14);
  });

  it('says so in words, and draws the chart', async () => {
    const svg = join(dir, 'forecast.svg');
    const r = await runCli(['forecast', '--days', '60', '--svg', svg], env, dir);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/FIRST EXPIRY: \d{4}-\d\d-\d\d \(in \d+ days\)/);
    expect(r.stdout).toMatch(/Capacity: 30 renewals a day/);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*first expiry[\s\S]*<\/svg>\n$/);
  });

  it('finds no shortfall with the continuous schedule', async () => {
    const r = await runCli(['forecast', '--days', '60', '--json'], { ...env, SCHEDULE: 'continuous' }, dir);
    expect(r.code, show(r)).toBe(0);
    expect(jsonOf<Forecast>(r).firstExpiry).toBeNull();
  });

  it('refuses a bad --days with exit 2 and a sentence', async () => {
    const r = await runCli(['forecast', '--days', 'soon'], env, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--days must be a whole number/);
  });
});
