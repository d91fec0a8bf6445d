import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import type { TestbedInfo } from '../../testbed/context.js';
import { createDatabase } from '../../testbed/helpers.js';

const tb: TestbedInfo = inject('testbed');

describe('testbed: PostgreSQL', () => {
  it('creates a fresh database per name and connects to it', async () => {
    const url = await createDatabase(tb.postgres.adminUrl, 'testbed_smoke');
    expect(url).toBe(`postgresql://postgres@127.0.0.1:${tb.postgres.port}/testbed_smoke`);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE t (id int primary key)');
      await client.query('INSERT INTO t VALUES (1), (2)');
      const { rows } = await client.query<{ db: string; n: string; fsync: string }>(
        "SELECT current_database() AS db, (SELECT count(*) FROM t)::text AS n, current_setting('fsync') AS fsync",
      );
      expect(rows[0]).toEqual({ db: 'testbed_smoke', n: '2', fsync: 'off' });
    } finally {
      await client.end();
    }

    // Creating it again starts from scratch.
    const again = new pg.Client({ connectionString: await createDatabase(tb.postgres.adminUrl, 'testbed_smoke') });
    await again.connect();
    try {
      const { rows } = await again.query("SELECT to_regclass('public.t') AS t");
      expect(rows[0]).toEqual({ t: null });
    } finally {
      await again.end();
    }
  });

  it('rejects database names that would need quoting', async () => {
    await expect(createDatabase(tb.postgres.adminUrl, 'Bad-Name')).rejects.toThrow(/invalid database name/);
  });
});
