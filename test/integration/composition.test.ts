// The composition root's database wiring: which database file a Python AutoTLS
// configuration opens, the start-up log that names it, and the order budget's
// lookup, which must not keep a failure.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/index.js';
import { compose, type Components } from '../../src/composition.js';
import { createLogger } from '../../src/logger.js';
import { LEGACY_SQLITE } from './db/legacy-schema.js';

const root = mkdtempSync(join(tmpdir(), 'autotls-composition-'));
const startDir = process.cwd();
const open: Components[] = [];
afterEach(async () => {
  process.chdir(startDir);
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Offline plugins: file secrets, RFC2136 (no call is made at start). */
function baseEnv(dir: string): Record<string, string> {
  return { SECRETS_PROVIDER: 'file', SECRETS_DIR: join(dir, 'secrets'), DNS_PROVIDER: 'rfc2136', RFC2136_NAMESERVER: '127.0.0.1:53', RFC2136_TSIG_KEY: 'autotls.', RFC2136_TSIG_SECRET: Buffer.from('not a real secret, never used').toString('base64'), LOG_LEVEL: 'info' };
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('composition', () => {
  it('opens instance/tlstool.db for SQLALCHEMY_DATABASE_URI=sqlite:///tlstool.db, as the Python AutoTLS does, and logs the file', async () => {
    // A checkout of the Python AutoTLS: its database in instance/, created by `flask init-db`.
    const checkout = join(root, 'python-autotls');
    mkdirSync(join(checkout, 'instance'), { recursive: true });
    const raw = new BetterSqlite3(join(checkout, 'instance', 'tlstool.db'));
    raw.exec(LEGACY_SQLITE);
    raw.close();
    process.chdir(checkout);

    const settings = loadSettings({ ...baseEnv(checkout), SQLALCHEMY_DATABASE_URI: 'sqlite:///tlstool.db' });
    const { logger, lines } = capturingLogger();
    const c = await compose(settings, { logger });
    open.push(c);
    expect(c.database.file).toBe(join(checkout, 'instance', 'tlstool.db'));
    expect((await c.repository.listDomains()).map((d) => d.name)).toEqual(['legacy.example']);
    expect(lines().find((l) => l['msg'] === 'database opened')).toMatchObject({ provider: 'sqlite', file: join(checkout, 'instance', 'tlstool.db') });

    // Only the alias reads it so: DATABASE_URL keeps its meaning (relative to the working directory).
    expect(loadSettings({ ...baseEnv(checkout), DATABASE_URL: 'sqlite:///tlstool.db' }).database.url).toBe('file:./tlstool.db');
    // What docs/migrating.md once suggested is instance/instance/ to the original, and so to us.
    expect(loadSettings({ ...baseEnv(checkout), SQLALCHEMY_DATABASE_URI: 'sqlite:///instance/tlstool.db' }).database.url).toBe('file:./instance/instance/tlstool.db');
    expect(loadSettings({ ...baseEnv(checkout), SQLALCHEMY_DATABASE_URI: 'sqlite:////srv/autotls/tlstool.db' }).database.url).toBe('file:/srv/autotls/tlstool.db');
  });

  it('looks the order budget up again after a failure, so `autotls account create` needs no restart', async () => {
    const dir = join(root, 'budget');
    const settings = loadSettings({ ...baseEnv(dir), DATABASE_URL: `file:${join(dir, 'autotls.db')}`, LE_ACCOUNT_KEY_SECRET_NAME: 'acme/account' });
    const c = await compose(settings, { logger: createLogger({ level: 'silent' }) });
    open.push(c);
    await expect(c.budget()).rejects.toThrow(/account key secret acme\/account does not exist/);
    // What `autotls account create` does: store the key.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await c.secrets.put('acme/account', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {});
    const budget = await c.budget();
    expect(await budget.used()).toBe(0);
    expect(await c.budget()).toBe(budget);
  });
});
