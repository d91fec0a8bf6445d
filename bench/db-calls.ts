// What one call on a renewal's path costs (issue 13, "Simulator speed"): each
// query shape the flow uses, through Prisma as the stores call it, against the
// same statement sent raw through the same Prisma client and prepared once on
// better-sqlite3 itself (the floor), on SQLite; and a certificate parse by
// @peculiar/x509 (src/certificates/x509.ts) against node:crypto's.
// The lifecycle simulator spends most of its CPU in these (bench/README.md,
// "What still limits the simulator").
//
//   npm run bench:db-calls                       # 5 rounds of 2,000 calls per shape
//   npm run bench:db-calls -- --rounds 3 --calls 1000
//
// Rounds interleave the shapes, so load on the shared machine falls on all of
// them alike; the table gives the median µs per call and its ratio to the first
// row of its group (the driver itself, or node:crypto's parse) measured in the
// same round. Absolute times are noise here; ratios are the result.
import { generateKeyPairSync, X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate as PeculiarX509 } from '@peculiar/x509';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { openDatabase, type Db } from '../src/db/client.js';
import { applyMigrations } from '../src/db/migrate.js';
import { certificate, extension, name, seq, tlv } from '../test/fakes/der.js';

const DOMAINS = 1000;

function parseArgs(argv: string[]): { rounds: number; calls: number } {
  const options = { rounds: 5, calls: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = Number(argv[i + 1]);
    if ((flag === '--rounds' || flag === '--calls') && Number.isInteger(value) && value > 0) {
      options[flag === '--rounds' ? 'rounds' : 'calls'] = value;
      i++;
    } else {
      throw new Error(`bench/db-calls.ts: unknown or invalid argument ${flag ?? ''} (use --rounds N --calls N)`);
    }
  }
  return options;
}

interface Shape {
  group: string;
  label: string;
  /** The raw statement this shape is compared with (same group). */
  baseline?: true;
  call: (i: number) => unknown;
}

function shapes(db: Db, driver: BetterSqlite3.Database, ids: number[], leafDer: Buffer): Shape[] {
  const id = (i: number): number => ids[i % ids.length] as number;
  const domainName = (i: number): string => `d${(i % DOMAINS) + 1}.test`;
  const now = new Date();
  const direct = (sql: string, write = false): ((...args: unknown[]) => unknown) => {
    const statement = driver.prepare(sql);
    return write ? (...args) => statement.run(...args) : (...args) => statement.all(...args);
  };
  const stateRow = direct('SELECT * FROM autotls_domain_state WHERE domain_id = ?');
  const domainRow = direct('SELECT * FROM domains WHERE name = ?');
  const phase = direct('UPDATE autotls_domain_state SET phase = ?, updated_at = ? WHERE domain_id = ? AND lease_owner IS NULL', true);
  const order = direct('INSERT INTO autotls_acme_orders (account, domain, exempt, created_at) VALUES (?, ?, ?, ?)', true);
  return [
    { group: 'read the state row', label: 'better-sqlite3, prepared once', baseline: true, call: (i) => stateRow(id(i)) },
    { group: 'read the state row', label: 'raw SELECT', call: (i) => db.$queryRawUnsafe('SELECT * FROM autotls_domain_state WHERE domain_id = ?', id(i)) },
    { group: 'read the state row', label: 'domainState.findUnique', call: (i) => db.domainState.findUnique({ where: { domainId: id(i) } }) },
    { group: 'read a domain by name', label: 'better-sqlite3, prepared once', baseline: true, call: (i) => domainRow(domainName(i)) },
    { group: 'read a domain by name', label: 'raw SELECT', call: (i) => db.$queryRawUnsafe('SELECT * FROM domains WHERE name = ?', domainName(i)) },
    { group: 'read a domain by name', label: 'domain.findUnique', call: (i) => db.domain.findUnique({ where: { name: domainName(i) } }) },
    { group: 'write a state phase', label: 'better-sqlite3, prepared once', baseline: true, call: (i) => phase('issued', now.getTime(), id(i)) },
    {
      group: 'write a state phase',
      label: 'raw UPDATE',
      call: (i) => db.$executeRawUnsafe('UPDATE autotls_domain_state SET phase = ?, updated_at = ? WHERE domain_id = ? AND lease_owner IS NULL', 'issued', now, id(i)),
    },
    { group: 'write a state phase', label: 'domainState.updateMany', call: (i) => db.domainState.updateMany({ where: { domainId: id(i), leaseOwner: null }, data: { phase: 'issued', updatedAt: now } }) },
    { group: 'write a state phase', label: 'domainState.update (RETURNING the row)', call: (i) => db.domainState.update({ where: { domainId: id(i) }, data: { phase: 'issued', updatedAt: now } }) },
    { group: 'insert an order row', label: 'better-sqlite3, prepared once', baseline: true, call: (i) => order('bench', domainName(i), 1, now.getTime()) },
    {
      group: 'insert an order row',
      label: 'raw INSERT',
      call: (i) => db.$executeRawUnsafe('INSERT INTO autotls_acme_orders (account, domain, exempt, created_at) VALUES (?, ?, ?, ?)', 'bench', domainName(i), true, now),
    },
    { group: 'insert an order row', label: 'acmeOrder.createMany', call: (i) => db.acmeOrder.createMany({ data: [{ account: 'bench', domain: domainName(i), exempt: true, createdAt: now }] }) },
    { group: 'insert an order row', label: 'acmeOrder.create (RETURNING the row)', call: (i) => db.acmeOrder.create({ data: { account: 'bench', domain: domainName(i), exempt: true, createdAt: now } }) },
    { group: 'parse a certificate', label: 'node:crypto X509Certificate', baseline: true, call: () => new NodeX509(leafDer).serialNumber },
    { group: 'parse a certificate', label: '@peculiar/x509 X509Certificate', call: () => new PeculiarX509(leafDer).serialNumber },
  ];
}

/** A leaf like the ones the simulator's CA issues: empty subject, SANs, AKI. */
function leafCertificate(): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  return certificate(
    {
      serial: Buffer.from('0123456789abcdef0123', 'hex'),
      issuer: name('Bench E9'),
      subject: name(),
      notBefore: new Date(now),
      notAfter: new Date(now + 90 * 86_400_000),
      publicKey: publicKey.export({ type: 'spki', format: 'der' }),
      extensions: [
        extension('2.5.29.35', false, seq(tlv(0x80, Buffer.alloc(20, 7)))),
        extension('2.5.29.17', true, seq(tlv(0x82, Buffer.from('bench.test')), tlv(0x82, Buffer.from('*.bench.test')))),
      ],
    },
    privateKey,
  );
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const { rounds, calls } = parseArgs(process.argv.slice(2));
  // On tmpfs where there is one, as the simulator's file is (bench/simulate/sim.ts): an fsync is not a call's cost.
  const file = path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `autotls-db-calls-${process.pid}.db`);
  const url = `file:${file}`;
  await applyMigrations(url, 'sqlite', pino({ level: 'silent' }));
  const database = await openDatabase(url, 'sqlite');
  const driver = new BetterSqlite3(file);
  try {
    const db = database.client;
    await db.domain.createMany({ data: Array.from({ length: DOMAINS }, (_, i) => ({ name: `d${i + 1}.test`, tld: 'test' })) });
    const ids = (await db.domain.findMany({ select: { id: true } })).map((d) => d.id);
    for (const id of ids) await db.$executeRawUnsafe('INSERT INTO autotls_domain_state (domain_id) VALUES (?)', id);
    const all = shapes(db, driver, ids, leafCertificate());
    const perCall = new Map<Shape, number[]>(all.map((s) => [s, []]));
    const ratios = new Map<Shape, number[]>(all.map((s) => [s, []]));
    for (let round = 0; round <= rounds; round++) {
      const times = new Map<Shape, number>();
      for (const shape of all) {
        const started = performance.now();
        for (let i = 0; i < calls; i++) await shape.call(i);
        times.set(shape, ((performance.now() - started) / calls) * 1000);
      }
      if (round === 0) continue; // warm-up: statement caches, JIT
      for (const shape of all) {
        const baseline = all.find((s) => s.group === shape.group && s.baseline) as Shape;
        perCall.get(shape)?.push(times.get(shape) as number);
        ratios.get(shape)?.push((times.get(shape) as number) / (times.get(baseline) as number));
      }
    }
    console.log(`${rounds} rounds of ${calls} calls per shape (after one warm-up round), SQLite on ${path.dirname(file)}, node ${process.version}`);
    console.log('| what | call | median µs per call | × the first row of its group (same round, median) |');
    console.log('|---|---|---:|---:|');
    for (const shape of all) {
      console.log(`| ${shape.group} | ${shape.label} | ${median(perCall.get(shape) as number[]).toFixed(0)} | ${median(ratios.get(shape) as number[]).toFixed(2)} |`);
    }
  } finally {
    driver.close();
    await database.close();
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
  }
}

await main();
