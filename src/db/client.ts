import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as PostgresClient } from '../generated/postgres/client.js';
import { PrismaClient as SqliteClient } from '../generated/sqlite/client.js';

/**
 * The Prisma client type the rest of AutoTLS codes against. Both generated
 * clients are built from the same models (prisma/sqlite/schema.prisma is derived
 * from prisma/schema.prisma), so their query APIs are identical; the PostgreSQL
 * flavour's types stand for both.
 */
export type Db = PostgresClient;
export type DbProvider = 'sqlite' | 'postgresql';

export interface Database {
  client: Db;
  provider: DbProvider;
  close(): Promise<void>;
}

/** `file:./data/autotls.db` → absolute path of the SQLite file. */
export function sqlitePath(url: string): string {
  const path = url.replace(/^file:/, '');
  return path === ':memory:' ? path : resolve(path);
}

export function openDatabase(url: string, provider: DbProvider): Database {
  if (provider === 'sqlite') {
    const path = sqlitePath(url);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const adapter = new PrismaBetterSqlite3({ url: `file:${path}`, timeout: 10_000 });
    const client = new SqliteClient({ adapter }) as unknown as Db;
    return { client, provider, close: () => client.$disconnect() };
  }
  const adapter = new PrismaPg({ connectionString: url, connectionTimeoutMillis: 10_000, max: 10 });
  const client = new PostgresClient({ adapter });
  return { client, provider, close: () => client.$disconnect() };
}
