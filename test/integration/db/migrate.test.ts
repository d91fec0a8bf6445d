import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { applyMigrations, loadMigrations } from '../../../src/db/migrate.js';
import { openDatabase, type DbProvider } from '../../../src/db/client.js';
import { createLogger } from '../../../src/logger.js';
import { createDatabase } from '../../testbed/helpers.js';
import { LEGACY_POSTGRES, LEGACY_SQLITE } from './legacy-schema.js';

const logger = createLogger({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'autotls-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sqliteUrl(name: string, legacy: boolean): Promise<string> {
  const path = join(dir, `${name}.db`);
  if (legacy) {
    const raw = new BetterSqlite3(path);
    raw.exec(LEGACY_SQLITE);
    raw.close();
  }
  return `file:${path}`;
}

async function postgresUrl(name: string, legacy: boolean): Promise<string> {
  const url = await createDatabase(inject('testbed').postgres.adminUrl, name);
  if (legacy) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(LEGACY_POSTGRES);
    await client.end();
  }
  return url;
}

const targets: Array<[DbProvider, (name: string, legacy: boolean) => Promise<string>]> = [
  ['sqlite', sqliteUrl],
  ['postgresql', postgresUrl],
];

describe.each(targets)('migrations on %s', (provider, makeUrl) => {
  const suffix = `${Date.now()}_${Math.floor(Math.random() * 1e6)}`;

  it('apply to an empty database, then find nothing left to do', async () => {
    const url = await makeUrl(`mig_empty_${suffix}`, false);
    const first = await applyMigrations(url, provider, logger);
    expect(first.applied).toEqual(loadMigrations(provider).map((m) => m.name));
    const second = await applyMigrations(url, provider, logger);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(first.applied);

    const db = await openDatabase(url, provider);
    try {
      const domain = await db.client.domain.create({ data: { name: 'new.example', tld: 'example', zoneId: 'Z1' } });
      expect(domain.owned).toBe(true);
      // Recorded in Prisma's own table with Prisma's checksum, so `prisma migrate status` agrees.
      const rows = await db.client.$queryRawUnsafe<Array<{ migration_name: string; checksum: string }>>(
        'SELECT migration_name, checksum FROM "_prisma_migrations"',
      );
      expect(rows.map((r) => r.checksum)).toEqual(loadMigrations(provider).map((m) => m.checksum));
    } finally {
      await db.close();
    }
  });

  it('adopt a Python AutoTLS database and keep its rows', async () => {
    const url = await makeUrl(`mig_legacy_${suffix}`, true);
    const result = await applyMigrations(url, provider, logger);
    expect(result.applied.length).toBeGreaterThan(0);
    await applyMigrations(url, provider, logger);
    const db = await openDatabase(url, provider);
    try {
      const legacy = await db.client.domain.findUniqueOrThrow({ where: { name: 'legacy.example' } });
      expect(legacy.zoneId).toBe('Z123');
      expect(legacy.tlsIssuer).toBe('Lets Encrypt');
      expect(legacy.tlsExpDate?.toISOString()).toBe('2026-12-01T00:00:00.000Z');
      const tls = await db.client.tls.findMany();
      expect(tls).toHaveLength(1);
      expect(tls[0]?.fastlyId).toBe('abc123');
      expect(await db.client.tlsfastly.count()).toBe(1);
      // New tables sit beside the old ones and work with the old rows.
      await db.client.domainState.create({ data: { domainId: legacy.id, phase: 'recorded' } });
      const withState = await db.client.domain.findUniqueOrThrow({ where: { id: legacy.id }, include: { state: true } });
      expect(withState.state?.phase).toBe('recorded');
    } finally {
      await db.close();
    }
  });

  it('record the issuing CA (cert_ca, order_ca): null, meaning the primary, for rows written without them', async () => {
    const url = await makeUrl(`mig_issuing_ca_${suffix}`, true);
    await applyMigrations(url, provider, logger);
    const db = await openDatabase(url, provider);
    try {
      const legacy = await db.client.domain.findUniqueOrThrow({ where: { name: 'legacy.example' } });
      // A state row as a version before the columns wrote it.
      await db.client.$executeRawUnsafe(`INSERT INTO autotls_domain_state (domain_id, phase, cert_serial, updated_at) VALUES (${legacy.id}, 'recorded', '01', CURRENT_TIMESTAMP)`);
      expect(await db.client.domainState.findUniqueOrThrow({ where: { domainId: legacy.id } })).toMatchObject({ certSerial: '01', certCa: null, orderCa: null });
      await db.client.domainState.update({ where: { domainId: legacy.id }, data: { certCa: 'https://acme.example/dir', orderCa: 'https://acme.example/dir' } });
      expect(await db.client.domainState.findUniqueOrThrow({ where: { domainId: legacy.id } })).toMatchObject({ certCa: 'https://acme.example/dir' });
      await db.client.$executeRawUnsafe(`INSERT INTO autotls_acme_orders (account, domain, created_at) VALUES ('acct', 'legacy.example', CURRENT_TIMESTAMP)`);
      expect(await db.client.acmeOrder.findFirstOrThrow({ where: { domain: 'legacy.example' } })).toMatchObject({ account: 'acct', ca: null });
    } finally {
      await db.close();
    }
  });

  it('let several instances start at once', async () => {
    const url = await makeUrl(`mig_race_${suffix}`, false);
    const results = await Promise.all([1, 2, 3].map(() => applyMigrations(url, provider, logger)));
    const appliedTotal = results.reduce((n, r) => n + r.applied.length, 0);
    expect(appliedTotal).toBe(loadMigrations(provider).length);
  });
});
