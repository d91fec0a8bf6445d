import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Prisma, PrismaClient as PostgresClient } from '../generated/postgres/client.js';
import { cacheStatements } from './sqlite-statements.js';

/**
 * The Prisma client type the stores code against. Both generated clients are
 * built from the same models (prisma/sqlite/schema.prisma is derived from
 * prisma/schema.prisma), so their query APIs are identical; the PostgreSQL
 * flavour's types stand for both. Only src/db/ and the stores (domains/
 * repository, domains/state, db/order-ledger, orchestrator/runs) use it.
 */
export type Db = PostgresClient;
/** The client inside `$transaction(async (tx) => ...)`. */
export type DbTx = Prisma.TransactionClient;
export type DbProvider = 'sqlite' | 'postgresql';

export interface Database {
  client: Db;
  provider: DbProvider;
  /** The SQLite file opened (absolute), for the start-up log; undefined on PostgreSQL. */
  file?: string;
  /** Resolves when the database answers a trivial query (readiness). */
  ping(): Promise<void>;
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
    const factory = new PrismaBetterSqlite3({ url: `file:${path}`, timeout: 10_000 });
    // The adapter prepares every statement again; its connection keeps them (sqlite-statements.ts).
    const adapter = {
      provider: factory.provider as 'sqlite',
      adapterName: factory.adapterName,
      connect: async () => {
        const connection = await factory.connect();
        cacheStatements(connection);
        return connection;
      },
      connectToShadowDb: () => factory.connectToShadowDb(),
    };
    const client = new PrismaClient({ adapter }) as unknown as Db;
    return { client, provider, file: path, ping: () => ping(client), close: () => client.$disconnect() };
  }
  const [{ PrismaPg }, { PrismaClient }] = await Promise.all([import('@prisma/adapter-pg'), import('../generated/postgres/client.js')]);
  // Prisma's DateTime columns are `timestamp(3)` holding UTC wall-clock time; a
  // database inherited from the Python AutoTLS may have `timestamptz` columns
  // beside them. Comparing the two converts through the session's TimeZone, so
  // the session runs in UTC to compare instants whatever the server's setting.
  const adapter = new PrismaPg({ connectionString: url, connectionTimeoutMillis: 10_000, max: options.poolSize ?? 10, options: '-c TimeZone=UTC' });
  const client = new PrismaClient({ adapter });
  return { client, provider, ping: () => ping(client), close: () => client.$disconnect() };
}

async function ping(client: Db): Promise<void> {
  await client.$queryRawUnsafe('SELECT 1');
}
