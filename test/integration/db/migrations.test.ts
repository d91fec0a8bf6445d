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

const logger = createLogger({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'autotls-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The Python AutoTLS tables as SQLAlchemy created them (models.py), with rows.
const LEGACY_SQLITE = `
CREATE TABLE domains (id INTEGER NOT NULL, name VARCHAR(100) NOT NULL, tld VARCHAR(50) NOT NULL, registrar_id INTEGER,
  exp_date DATETIME, zone_id VARCHAR(255), nameservers VARCHAR(255), status VARCHAR(255), registered BOOLEAN, ok_to_delete BOOLEAN,
  notes TEXT, registrant_contact_id INTEGER, admin_contact_id INTEGER, tech_contact_id INTEGER, expired BOOLEAN, fastly_cert BOOLEAN,
  origin_id INTEGER, tls_id INTEGER, tls_exp_date DATETIME, owned BOOLEAN, last_updated DATETIME, last_updated_by VARCHAR(255),
  tls_issuer VARCHAR(16), fastly_service VARCHAR(16),
  CONSTRAINT pk_user_id PRIMARY KEY (id), CONSTRAINT domains_name_key UNIQUE (name));
CREATE TABLE tls (id INTEGER NOT NULL, fastly_id VARCHAR(40), not_after DATETIME, not_before DATETIME, created_at DATETIME, CONSTRAINT tls_pkey PRIMARY KEY (id));
CREATE TABLE tlsfastly (id INTEGER NOT NULL, cert_id VARCHAR(50) NOT NULL, not_after DATETIME, not_before DATETIME, created_at DATETIME,
  updated_at DATETIME, replace BOOLEAN, tls_configuration_id VARCHAR(50), tls_configuration_type VARCHAR(50), tls_domain_id VARCHAR(200),
  tls_domain_type VARCHAR(50), type VARCHAR(50), CONSTRAINT tlsfastly_pkey PRIMARY KEY (id), CONSTRAINT tlsfastly_cert_id_key UNIQUE (cert_id));
INSERT INTO domains (id, name, tld, zone_id, owned, status, tls_exp_date, tls_issuer, last_updated_by)
  VALUES (1, 'legacy.example', 'example', 'Z123', 1, NULL, '2026-12-01 00:00:00.000000', 'Lets Encrypt', 'tlstool');
INSERT INTO tls (id, fastly_id, not_after, not_before, created_at) VALUES (7, 'abc123', '2026-12-01 00:00:00.000000', '2026-09-02 00:00:00.000000', '2026-09-02 00:05:00.000000');
INSERT INTO tlsfastly (id, cert_id, replace) VALUES (1, 'abc123', 0);
`;

const LEGACY_POSTGRES = `
CREATE TABLE domains (id SERIAL NOT NULL, name VARCHAR(100) NOT NULL, tld VARCHAR(50) NOT NULL, registrar_id INTEGER,
  exp_date TIMESTAMP WITHOUT TIME ZONE, zone_id VARCHAR(255), nameservers VARCHAR(255), status VARCHAR(255), registered BOOLEAN, ok_to_delete BOOLEAN,
  notes TEXT, registrant_contact_id INTEGER, admin_contact_id INTEGER, tech_contact_id INTEGER, expired BOOLEAN, fastly_cert BOOLEAN,
  origin_id INTEGER, tls_id INTEGER, tls_exp_date TIMESTAMP WITH TIME ZONE, owned BOOLEAN, last_updated TIMESTAMP WITHOUT TIME ZONE,
  last_updated_by VARCHAR(255), tls_issuer VARCHAR(16), fastly_service VARCHAR(16),
  CONSTRAINT pk_user_id PRIMARY KEY (id), CONSTRAINT domains_name_key UNIQUE (name));
CREATE TABLE tls (id SERIAL NOT NULL, fastly_id VARCHAR(40), not_after TIMESTAMP WITHOUT TIME ZONE, not_before TIMESTAMP WITHOUT TIME ZONE,
  created_at TIMESTAMP WITHOUT TIME ZONE, CONSTRAINT tls_pkey PRIMARY KEY (id));
COMMENT ON TABLE tls IS 'This table stores info from the TLS tool, written at the time the cert is created.';
CREATE TABLE tlsfastly (id SERIAL NOT NULL, cert_id VARCHAR(50) NOT NULL, not_after TIMESTAMP WITHOUT TIME ZONE, not_before TIMESTAMP WITHOUT TIME ZONE,
  created_at TIMESTAMP WITHOUT TIME ZONE, updated_at TIMESTAMP WITHOUT TIME ZONE, replace BOOLEAN, tls_configuration_id VARCHAR(50),
  tls_configuration_type VARCHAR(50), tls_domain_id VARCHAR(200), tls_domain_type VARCHAR(50), type VARCHAR(50),
  CONSTRAINT tlsfastly_pkey PRIMARY KEY (id), CONSTRAINT tlsfastly_cert_id_key UNIQUE (cert_id));
INSERT INTO domains (name, tld, zone_id, owned, tls_exp_date, tls_issuer, last_updated_by)
  VALUES ('legacy.example', 'example', 'Z123', true, '2026-12-01 00:00:00+00', 'Lets Encrypt', 'tlstool');
INSERT INTO tls (fastly_id, not_after, not_before, created_at) VALUES ('abc123', '2026-12-01 00:00:00', '2026-09-02 00:00:00', '2026-09-02 00:05:00');
INSERT INTO tlsfastly (cert_id, replace) VALUES ('abc123', false);
`;

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

  it('let several instances start at once', async () => {
    const url = await makeUrl(`mig_race_${suffix}`, false);
    const results = await Promise.all([1, 2, 3].map(() => applyMigrations(url, provider, logger)));
    const appliedTotal = results.reduce((n, r) => n + r.applied.length, 0);
    expect(appliedTotal).toBe(loadMigrations(provider).length);
  });
});
