import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { sqlitePath, type DbProvider } from './client.js';

/**
 * Applies the Prisma migration files without Prisma's native schema engine.
 *
 * The files are ordinary Prisma Migrate folders (prisma/migrations for
 * PostgreSQL, prisma/sqlite/migrations for SQLite), and applied migrations are
 * recorded in Prisma's own `_prisma_migrations` table with Prisma's checksum
 * (SHA-256 of migration.sql). So a user who has the engine can run
 * `prisma migrate deploy` or `prisma migrate status` on the same database and
 * sees the same history; and a database migrated by Prisma is recognised here.
 *
 * Each migration runs in one transaction. On PostgreSQL an advisory lock keeps
 * several instances starting at once from racing; on SQLite the write lock does.
 */
const PRISMA_ADVISORY_LOCK = 72707369; // the key Prisma Migrate itself uses

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function migrationsDir(provider: DbProvider): string {
  return provider === 'sqlite' ? join(root, 'prisma/sqlite/migrations') : join(root, 'prisma/migrations');
}

export function loadMigrations(provider: DbProvider): Migration[] {
  const dir = migrationsDir(provider);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const PG_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

const SQLITE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

function checkChecksum(m: Migration, recorded: string, logger: Logger): void {
  if (recorded !== m.checksum) {
    logger.warn({ migration: m.name }, 'migration file changed after it was applied; it is not applied again');
  }
}

export async function applyMigrations(url: string, provider: DbProvider, logger: Logger): Promise<MigrationResult> {
  const migrations = loadMigrations(provider);
  return provider === 'sqlite' ? applySqlite(url, migrations, logger) : applyPostgres(url, migrations, logger);
}

function applySqlite(url: string, migrations: Migration[], logger: Logger): MigrationResult {
  const path = sqlitePath(url);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path, { timeout: 10_000 });
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  try {
    db.pragma('journal_mode = WAL');
    db.exec(SQLITE_MIGRATIONS_TABLE);
    for (const m of migrations) {
      const apply = db.transaction(() => {
        const row = db
          .prepare('SELECT checksum FROM "_prisma_migrations" WHERE migration_name = ? AND finished_at IS NOT NULL AND rolled_back_at IS NULL')
          .get(m.name) as { checksum: string } | undefined;
        if (row) {
          checkChecksum(m, row.checksum, logger);
          result.alreadyApplied.push(m.name);
          return;
        }
        db.exec(m.sql);
        const now = new Date().toISOString();
        db.prepare(
          'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)',
        ).run(randomUUID(), m.checksum, now, m.name, now);
        result.applied.push(m.name);
      });
      apply.immediate();
    }
  } finally {
    db.close();
  }
  logResult(result, logger);
  return result;
}

async function applyPostgres(url: string, migrations: Migration[], logger: Logger): Promise<MigrationResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    await client.query(PG_MIGRATIONS_TABLE);
    for (const m of migrations) {
      const { rows } = await client.query<{ checksum: string }>(
        'SELECT checksum FROM "_prisma_migrations" WHERE migration_name = $1 AND finished_at IS NOT NULL AND rolled_back_at IS NULL',
        [m.name],
      );
      if (rows[0]) {
        checkChecksum(m, rows[0].checksum, logger);
        result.alreadyApplied.push(m.name);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(
          'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, now(), 1)',
          [randomUUID(), m.checksum, m.name],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`Migration ${m.name} failed: ${(error as Error).message}`, { cause: error });
      }
      result.applied.push(m.name);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]).catch(() => undefined);
    await client.end();
  }
  logResult(result, logger);
  return result;
}

function logResult(result: MigrationResult, logger: Logger): void {
  if (result.applied.length > 0) logger.info({ applied: result.applied }, 'database migrations applied');
  else logger.debug({ alreadyApplied: result.alreadyApplied.length }, 'database schema is up to date');
}
