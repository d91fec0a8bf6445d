// A migrated, empty database per test, on SQLite or the testbed's PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { applyMigrations } from '../../../src/db/migrate.js';
import { openDatabase, type Database, type DbProvider } from '../../../src/db/client.js';
import { createLogger } from '../../../src/logger.js';
import { createDatabase } from '../../testbed/helpers.js';

export interface FreshDatabases {
  fresh(provider: DbProvider): Promise<Database>;
  /** Closes every database opened and removes the SQLite files. */
  cleanup(): Promise<void>;
}

export function freshDatabases(prefix: string): FreshDatabases {
  const dir = mkdtempSync(join(tmpdir(), `autotls-${prefix}-`));
  const logger = createLogger({ level: 'silent' });
  const opened: Database[] = [];
  return {
    async fresh(provider) {
      const name = `${prefix}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
      const url = provider === 'sqlite' ? `file:${join(dir, `${name}.db`)}` : await createDatabase(inject('testbed').postgres.adminUrl, name);
      await applyMigrations(url, provider, logger);
      const db = await openDatabase(url, provider);
      opened.push(db);
      return db;
    },
    async cleanup() {
      await Promise.all(opened.map((d) => d.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
