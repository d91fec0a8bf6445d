/**
 * Prepared statements kept between queries on SQLite.
 *
 * @prisma/adapter-better-sqlite3 (7.10, dist/index.mjs `performIO`/`executeIO`)
 * calls `db.prepare(sql).bind(args)` for every query, so SQLite parses and plans
 * the same statement again each time: 11% of the lifecycle simulator's CPU went
 * to `prepare` alone. Prisma's query compiler emits the same SQL text for the
 * same query shape, so a small cache by text serves nearly every query.
 *
 * better-sqlite3 binds a statement's parameters once and for good (`bind()`),
 * so the cache hands the adapter a statement-like object whose `bind(args)`
 * passes the arguments to each call instead. The adapter's `client` is the one
 * reach into its internals; `cacheStatements` checks its shape and
 * test/unit/db/sqlite-statements.test.ts fails if an upgrade moves it.
 */
import type BetterSqlite3 from 'better-sqlite3';

/** Distinct statement texts kept (Prisma writes IN lists inline, so texts are not a closed set). */
export const STATEMENT_CACHE_SIZE = 256;

type Statement = BetterSqlite3.Statement<unknown[]>;

/** What the adapter calls on the result of `prepare(sql).bind(args)`. */
interface BoundStatement {
  readonly reader: boolean;
  run(): BetterSqlite3.RunResult;
  columns(): BetterSqlite3.ColumnDefinition[];
  raw(): { all(): unknown[] };
}

interface PreparingClient {
  prepare(sql: string): unknown;
}

/** Replaces `db.prepare` on the adapter's connection with a cached, re-bindable one. */
export function cacheStatements(adapter: unknown, size = STATEMENT_CACHE_SIZE): void {
  const client = (adapter as { client?: PreparingClient } | undefined)?.client;
  if (!client || typeof client.prepare !== 'function') {
    throw new Error('@prisma/adapter-better-sqlite3 no longer keeps its connection in `client`: src/db/sqlite-statements.ts needs updating');
  }
  const prepare = client.prepare.bind(client) as (sql: string) => Statement;
  const cache = new Map<string, Statement>();
  client.prepare = (sql: string) => {
    let statement = cache.get(sql);
    if (statement) {
      // Most recently used last: the first entry is the one to drop.
      cache.delete(sql);
    } else {
      statement = prepare(sql);
      if (cache.size >= size) cache.delete(cache.keys().next().value as string);
    }
    cache.set(sql, statement);
    return rebindable(statement);
  };
}

/** The adapter's two uses: `prepare(sql).bind(args)` for queries, `prepare('BEGIN').run()`. */
interface Rebindable {
  bind(args: unknown[]): BoundStatement;
  run(): BetterSqlite3.RunResult;
}

function rebindable(statement: Statement): Rebindable {
  return {
    run: () => statement.run(),
    bind: (args) => ({
      reader: statement.reader,
      run: () => statement.run(args),
      columns: () => statement.columns(),
      raw: () => ({ all: () => statement.raw(true).all(args) }),
    }),
  };
}
