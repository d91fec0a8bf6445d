// What one call on a renewal's path costs (issue 13, "Simulator speed"): each
// query shape the flow uses, through Prisma as the stores call it, against the
// same statement sent raw through the same Prisma client and prepared once on
// better-sqlite3 itself (the floor), on SQLite; and a certificate parse by
// @peculiar/x509 (src/certificates/x509.ts) against node:crypto's.
// The lifecycle simulator spends most of its CPU in these (bench/README.md,
// "What one call costs").
//
//   npm run bench:db-calls                       # 5 rounds of 2,000 calls per path
//   npm run bench:db-calls -- --rounds 3 --calls 1000
//
// Rounds interleave the paths, so load on the shared machine falls on all of
// them alike; the table gives the median µs per call and its ratio to the first
// path of its group (the driver itself, or node:crypto's parse) measured in the
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
import { percentile } from './lib/util.js';

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

/** One thing a renewal does, by several paths; the first path is the one the others are compared with. */
interface Group {
  what: string;
  paths: Array<{ label: string; call: (i: number) => unknown }>;
}

const STATE_ROW = 'SELECT * FROM autotls_domain_state WHERE domain_id = ?';
const DOMAIN_ROW = 'SELECT * FROM domains WHERE name = ?';
const PHASE = 'UPDATE autotls_domain_state SET phase = ?, updated_at = ? WHERE domain_id = ? AND lease_owner IS NULL';
const ORDER = 'INSERT INTO autotls_acme_orders (account, domain, exempt, created_at) VALUES (?, ?, ?, ?)';
const DRIVER = 'better-sqlite3, prepared once';

function groups(db: Db, driver: BetterSqlite3.Database, ids: number[], leafDer: Buffer): Group[] {
  const id = (i: number): number => ids[i % ids.length] as number;
  const domainName = (i: number): string => `d${(i % DOMAINS) + 1}.test`;
  const now = new Date();
  const stateRow = driver.prepare(STATE_ROW);
  const domainRow = driver.prepare(DOMAIN_ROW);
  const phase = driver.prepare(PHASE);
  const order = driver.prepare(ORDER);
  return [
    {
      what: 'read the state row',
      paths: [
        { label: DRIVER, call: (i) => stateRow.all(id(i)) },
        { label: 'raw SELECT', call: (i) => db.$queryRawUnsafe(STATE_ROW, id(i)) },
        { label: 'domainState.findUnique', call: (i) => db.domainState.findUnique({ where: { domainId: id(i) } }) },
      ],
    },
    {
      what: 'read a domain by name',
      paths: [
        { label: DRIVER, call: (i) => domainRow.all(domainName(i)) },
        { label: 'raw SELECT', call: (i) => db.$queryRawUnsafe(DOMAIN_ROW, domainName(i)) },
        { label: 'domain.findUnique', call: (i) => db.domain.findUnique({ where: { name: domainName(i) } }) },
      ],
    },
    {
      what: 'write a state phase',
      paths: [
        { label: DRIVER, call: (i) => phase.run('issued', now.getTime(), id(i)) },
        { label: 'raw UPDATE', call: (i) => db.$executeRawUnsafe(PHASE, 'issued', now, id(i)) },
        { label: 'domainState.updateMany', call: (i) => db.domainState.updateMany({ where: { domainId: id(i), leaseOwner: null }, data: { phase: 'issued', updatedAt: now } }) },
        { label: 'domainState.update (RETURNING the row)', call: (i) => db.domainState.update({ where: { domainId: id(i) }, data: { phase: 'issued', updatedAt: now } }) },
      ],
    },
    {
      what: 'insert an order row',
      paths: [
        { label: DRIVER, call: (i) => order.run('bench', domainName(i), 1, now.getTime()) },
        { label: 'raw INSERT', call: (i) => db.$executeRawUnsafe(ORDER, 'bench', domainName(i), true, now) },
        { label: 'acmeOrder.createMany', call: (i) => db.acmeOrder.createMany({ data: [{ account: 'bench', domain: domainName(i), exempt: true, createdAt: now }] }) },
        { label: 'acmeOrder.create (RETURNING the row)', call: (i) => db.acmeOrder.create({ data: { account: 'bench', domain: domainName(i), exempt: true, createdAt: now } }) },
      ],
    },
    {
      what: 'parse a certificate',
      paths: [
        { label: 'node:crypto X509Certificate', call: () => new NodeX509(leafDer).serialNumber },
        { label: '@peculiar/x509 X509Certificate', call: () => new PeculiarX509(leafDer).serialNumber },
      ],
    },
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
      publicKey,
      extensions: [
        extension('2.5.29.35', false, seq(tlv(0x80, Buffer.alloc(20, 7)))),
        extension('2.5.29.17', true, seq(tlv(0x82, Buffer.from('bench.test')), tlv(0x82, Buffer.from('*.bench.test')))),
      ],
    },
    privateKey,
  );
}

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
    const all = groups(db, driver, ids, leafCertificate());
    const perCall = new Map<string, number[]>();
    const ratios = new Map<string, number[]>();
    const push = (map: Map<string, number[]>, key: string, value: number): void => void map.set(key, [...(map.get(key) ?? []), value]);
    for (let round = 0; round <= rounds; round++) {
      for (const group of all) {
        let baseline: number | undefined;
        for (const { label, call } of group.paths) {
          const started = performance.now();
          for (let i = 0; i < calls; i++) await call(i);
          const us = ((performance.now() - started) / calls) * 1000;
          baseline ??= us;
          if (round === 0) continue; // warm-up: statement caches, JIT
          push(perCall, `${group.what}|${label}`, us);
          push(ratios, `${group.what}|${label}`, us / baseline);
        }
      }
    }
    console.log(`${rounds} rounds of ${calls} calls per path (after one warm-up round), SQLite on ${path.dirname(file)}, node ${process.version}`);
    console.log('| what | path | median µs per call | × the first path of its group (same round, median) |');
    console.log('|---|---|---:|---:|');
    for (const group of all) {
      for (const { label } of group.paths) {
        const key = `${group.what}|${label}`;
        console.log(`| ${group.what} | ${label} | ${percentile(perCall.get(key) ?? [], 50).toFixed(0)} | ${percentile(ratios.get(key) ?? [], 50).toFixed(2)} |`);
      }
    }
  } finally {
    driver.close();
    await database.close();
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
  }
}

await main();
