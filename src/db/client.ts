import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PrismaClient as PostgresClient } from '../generated/postgres/client.js';

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

/**
 * Opens the database. Only the client and driver of the configured provider are
 * loaded: each brings its own query compiler and driver, and a process needs one.
 */
export async function openDatabase(url: string, provider: DbProvider, options: { poolSize?: number } = {}): Promise<Database> {
  if (provider === 'sqlite') {
    const path = sqlitePath(url);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const [{ PrismaBetterSqlite3 }, { PrismaClient }] = await Promise.all([
      import('@prisma/adapter-better-sqlite3'),
      import('../generated/sqlite/client.js'),
    ]);
    const adapter = new PrismaBetterSqlite3({ url: `file:${path}`, timeout: 10_000 });
    const client = new PrismaClient({ adapter }) as unknown as Db;
    return { client, provider, close: () => client.$disconnect() };
  }
  const [{ PrismaPg }, { PrismaClient }] = await Promise.all([import('@prisma/adapter-pg'), import('../generated/postgres/client.js')]);
  const adapter = new PrismaPg({ connectionString: url, connectionTimeoutMillis: 10_000, max: options.poolSize ?? 10 });
  const client = new PrismaClient({ adapter });
  return { client, provider, close: () => client.$disconnect() };
}
