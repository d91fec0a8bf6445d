// The statement cache on the SQLite adapter's connection (src/db/sqlite-statements.ts),
// on a real better-sqlite3 database, driven the way @prisma/adapter-better-sqlite3 7.10
// drives it: `prepare(sql).bind(args)` then `run()` / `columns()` / `raw().all()`, and
// `prepare('BEGIN').run()`.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cacheStatements } from '../../../src/db/sqlite-statements.js';
import { openDatabase } from '../../../src/db/client.js';

interface Prepared {
  reader: boolean;
  run(): unknown;
  bind(args: unknown[]): { reader: boolean; run(): { changes: number }; columns(): Array<{ name: string }>; raw(): { all(): unknown[][] } };
}

function connection(size?: number) {
  const db = new Database(':memory:');
  const texts: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    texts.push(sql);
    return prepare(sql);
  }) as typeof db.prepare;
  const adapter = { client: db as unknown as { prepare(sql: string): Prepared } };
  cacheStatements(adapter, size);
  return { db, texts, prepare: (sql: string) => adapter.client.prepare(sql) };
}

describe('SQLite statements kept between queries', () => {
  it('prepares a statement once and binds each call its own arguments', () => {
    const c = connection();
    c.prepare('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)').run();
    for (const [id, name] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) {
      expect(c.prepare('INSERT INTO t (id, name) VALUES (?, ?)').bind([id, name]).run().changes).toBe(1);
    }
    const select = 'SELECT name FROM t WHERE id = ?';
    expect(c.prepare(select).bind([2]).raw().all()).toEqual([['b']]);
    expect(c.prepare(select).bind([3]).raw().all()).toEqual([['c']]);
    expect(c.prepare(select).bind([2]).columns().map((col) => col.name)).toEqual(['name']);
    expect(c.prepare(select).bind([9]).reader).toBe(true);
    expect(c.texts.filter((t) => t === select)).toHaveLength(1);
    expect(c.texts.filter((t) => t.startsWith('INSERT'))).toHaveLength(1);
  });

  it('keeps at most `size` texts, dropping the least recently used', () => {
    const c = connection(2);
    const [a, b, d] = ['SELECT 1', 'SELECT 2', 'SELECT 3'];
    for (const sql of [a, b, a, d, a, b]) c.prepare(sql as string).bind([]).raw().all();
    // a stays (used again before d came); b was dropped for d and is prepared again.
    expect(c.texts).toEqual([a, b, d, b]);
  });

  it('transactions work: BEGIN is prepared once and run without arguments', () => {
    const c = connection();
    c.prepare('CREATE TABLE t (x INTEGER)').run();
    for (let i = 0; i < 3; i++) {
      c.prepare('BEGIN').run();
      c.prepare('INSERT INTO t (x) VALUES (?)').bind([i]).run();
      c.prepare('COMMIT').bind([]).run();
    }
    expect(c.prepare('SELECT COUNT(*) FROM t').bind([]).raw().all()).toEqual([[3]]);
    expect(c.texts.filter((t) => t === 'BEGIN')).toHaveLength(1);
  });

  it('refuses an adapter that no longer keeps its connection in `client`', () => {
    expect(() => cacheStatements({})).toThrow(/sqlite-statements\.ts needs updating/);
  });

  it('Prisma queries through openDatabase still read the right rows as their arguments change', async () => {
    const db = await openDatabase(':memory:', 'sqlite');
    try {
      await db.client.$executeRawUnsafe('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)');
      for (const [id, name] of [[1, 'a'], [2, 'b']] as const) await db.client.$executeRaw`INSERT INTO t (id, name) VALUES (${id}, ${name})`;
      const read = async (id: number) => (await db.client.$queryRaw<Array<{ name: string }>>`SELECT name FROM t WHERE id = ${id}`).map((r) => r.name);
      expect(await read(1)).toEqual(['a']);
      expect(await read(2)).toEqual(['b']);
      await db.client.$transaction(async (tx) => tx.$executeRaw`UPDATE t SET name = ${'z'} WHERE id = ${1}`);
      expect(await read(1)).toEqual(['z']);
    } finally {
      await db.close();
    }
  });
});
