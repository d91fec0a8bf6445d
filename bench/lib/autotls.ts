// Stage 1: AutoTLS end to end, as a separate process (`node dist/main.js`), one
// fresh database per variant, driven by one `GET /process` as cron does.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { applyMigrations } from '../../src/db/migrate.js';
import type { DbProvider } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { startFastlyFake } from '../../test/testbed/fastly-fake.js';
import { freePort, spawnManaged, waitUntil } from '../../test/testbed/process.js';
import { repoRoot } from './args.js';
import type { BenchTestbed } from './testbed.js';
import { cpuDelta, cpuSnapshot, type CpuAccount } from './cpu.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { errorText, httpCall, log, ms, procStatusKb } from './util.js';

export const API_KEY = 'bench-api-key-0123456789abcdef';
const FASTLY_TOKEN = 'fastly-token-bench-0123456789';
const TLS_CONFIGURATION_ID = 'tlsconfigbench1';
const ACCOUNT_SECRET = 'acme/account-key';

export interface AutotlsVariant {
  database: DbProvider;
  concurrency: number;
}

export interface AutotlsResult {
  stage: 'autotls';
  database: DbProvider;
  concurrency: number;
  n: number;
  /** Wall time of the `/process` request. */
  wallMs: number;
  certsPerSecond: number;
  succeeded: number;
  failed: string[];
  runStatus: string;
  httpStatus: number;
  /** Certificates the Fastly fake holds afterwards (one per domain expected). */
  fastlyCertificates: number;
  /** VmHWM of the AutoTLS process after the run (start-up included), MB. */
  peakRssMb: number | undefined;
  /** VmRSS just before `/process`, MB. */
  idleRssMb: number | undefined;
  /** CPU time (user+sys, ms) per process during the request: autotls, pebble, bind, postgres, bench (Fastly fake). */
  cpu: CpuAccount;
  startupMs: number;
  profile?: ProfileSummary;
  /** ms from the request to the first certificate issued (from the AutoTLS log): the run's fixed start-up cost. */
  firstIssuedMs?: number | undefined;
  /** ms from the request to the last certificate issued; (n-1)/(last-first) is the rate once running. */
  lastIssuedMs?: number | undefined;
  /** PostgreSQL only: transactions (autocommit statements count one each) and rows touched per certificate, over both runs (start-up queries included). */
  dbPerCertificate?: Record<string, number>;
  /** With --renewal-run: a second `/process` in the same (now warm) process, renewing the same N. */
  renewal?: {
    wallMs: number;
    certsPerSecond: number;
    succeeded: number;
    failed: string[];
    cpu: CpuAccount;
    fastlyCertificates: number;
    peakRssMb: number | undefined;
    firstIssuedMs?: number | undefined;
    lastIssuedMs?: number | undefined;
  };
  /** With --mem-probe: process.memoryUsage() and V8 heap spaces (MB) before `/process` and at the peak RSS. */
  memory?: { idle: unknown; peak: unknown };
  logFile?: string;
}

export interface AutotlsOptions {
  /** Root of the AutoTLS checkout whose dist/main.js runs (default: this repository). */
  root: string;
  /** Write a V8 CPU profile into this directory (node --cpu-prof). */
  profileDir?: string;
  logLevel: string;
  keepLogs: boolean;
  memProbe?: boolean;
  nodeFlags?: string[];
  /** Time a second `/process` renewing the same N in the same process. */
  renewalRun?: boolean;
  settleMs?: number;
}

const silent = createLogger({ level: 'silent' });

async function prepareDatabase(tb: BenchTestbed, dir: string, variant: AutotlsVariant, tag: string): Promise<string> {
  const names = tb.zones;
  if (variant.database === 'sqlite') {
    const url = `file:${path.join(dir, 'autotls.db')}`;
    await applyMigrations(url, 'sqlite', silent);
    const db = new BetterSqlite3(path.join(dir, 'autotls.db'));
    try {
      const insert = db.prepare('INSERT INTO domains (name, tld, zone_id, owned) VALUES (?, ?, ?, 1)');
      db.transaction(() => {
        for (const name of names) insert.run(name, name.slice(name.lastIndexOf('.') + 1), name);
      })();
    } finally {
      db.close();
    }
    return url;
  }
  if (!tb.postgres) throw new Error('PostgreSQL is not running');
  const url = await tb.postgres.createDatabase(`bench_${tag}`);
  await applyMigrations(url, 'postgresql', silent);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      'INSERT INTO domains (name, tld, zone_id, owned) SELECT n, substring(n from \'[^.]+$\'), n, true FROM unnest($1::text[]) AS n',
      [names],
    );
  } finally {
    await client.end();
  }
  return url;
}

/** Transactions and row operations of one PostgreSQL database so far (pg_stat_database). */
async function pgActivity(adminUrl: string, dbName: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    // The statistics collector reports with a delay: ask for a fresh snapshot.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<Record<string, string>>(
      'SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = $1',
      [dbName],
    );
    const row = rows[0] ?? {};
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  } finally {
    await client.end();
  }
}

interface TimedRun {
  wallMs: number;
  succeeded: number;
  failed: string[];
  runStatus: string;
  httpStatus: number;
  cpu: CpuAccount;
  window: { startUs: number; endUs: number };
  firstIssuedMs: number | undefined;
  lastIssuedMs: number | undefined;
}

/** One `GET /process`, timed, with the CPU of every process and a check of every domain's outcome. */
async function timedProcess(tb: BenchTestbed, url: string, pid: number, expected: 'issued' | 'renewed', readLog: () => Promise<string>): Promise<TimedRun> {
  const startedAt = Date.now();
  const cpu0 = cpuSnapshot(tb, { autotls: pid });
  const w0 = process.hrtime.bigint();
  const r0 = performance.now();
  const answer = await httpCall(`${url}/process`, { headers: { 'Flask-Key': API_KEY } });
  const wallMs = ms(r0);
  const window = { startUs: Number(w0 / 1000n), endUs: Number(process.hrtime.bigint() / 1000n) };
  const cpu = cpuDelta(cpu0, cpuSnapshot(tb, { autotls: pid }));
  let doc: RunDocument | undefined;
  try {
    doc = JSON.parse(answer.body) as RunDocument;
  } catch {
    doc = undefined;
  }
  const results = doc?.results ?? [];
  const ok = results.filter((r) => r.outcome === expected);
  const failed = results.filter((r) => r.outcome !== expected).map((r) => `${r.domain}: ${r.outcome} ${r.errors.join('; ')}`.slice(0, 300));
  for (const z of tb.zones) if (!results.some((r) => r.domain === z)) failed.push(`${z}: not in the run`);
  if (!doc) failed.push(`HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
  const issuedAt = issuedTimes(await readLog(), startedAt);
  return {
    wallMs,
    succeeded: ok.length,
    failed,
    runStatus: doc?.status ?? 'no document',
    httpStatus: answer.status,
    cpu,
    window,
    firstIssuedMs: issuedAt[0],
    lastIssuedMs: issuedAt[issuedAt.length - 1],
  };
}

/** ms after `since` of each "ACME certificate issued" line of the AutoTLS log (pino JSON, LOG_LEVEL info or debug). */
function issuedTimes(log: string, since: number): number[] {
  const out: number[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"ACME certificate issued"')) continue;
    try {
      const t = Date.parse((JSON.parse(line) as { time: string }).time);
      if (t >= since) out.push(t - since);
    } catch {
      // not a log line
    }
  }
  return out.sort((a, b) => a - b);
}

/** Moves every domain's next renewal time into the past (a renewal run without waiting two months). */
async function makeAllDue(database: DbProvider, url: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  if (database === 'sqlite') {
    const db = new BetterSqlite3(url.replace(/^file:/, ''), { timeout: 10_000 });
    try {
      db.prepare('UPDATE autotls_domain_state SET next_renewal_at = ?').run(past.toISOString().replace('Z', '+00:00'));
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("UPDATE autotls_domain_state SET next_renewal_at = ($1::timestamptz AT TIME ZONE 'UTC')", [past.toISOString()]);
  } finally {
    await client.end();
  }
}

export async function runAutotls(tb: BenchTestbed, variant: AutotlsVariant, options: AutotlsOptions): Promise<AutotlsResult> {
  const n = tb.zones.length;
  const tag = `${variant.database}_c${variant.concurrency}_${Date.now()}`;
  const dir = mkdtempSync(path.join(tb.dir, `autotls-${variant.database}-c${variant.concurrency}-`));
  const databaseUrl = await prepareDatabase(tb, dir, variant, tag);

  // A fresh Pebble account per variant, stored as JWK JSON in the file secrets store.
  const secretsDir = path.join(dir, 'secrets');
  const account = await AcmeIssuer.register({ directoryUrl: tb.pebble.directoryUrl, email: 'bench@example.test' });
  await new FileSecretsStore(secretsDir).put(ACCOUNT_SECRET, JSON.stringify(account.accountKeyJwk));

  const fastly = await startFastlyFake({ token: FASTLY_TOKEN, configurationIds: [TLS_CONFIGURATION_ID] });
  const port = await freePort();
  const probePort = await freePort(); // nothing listens there: the probe finds no certificate
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    NODE_EXTRA_CA_CERTS: tb.pebble.caCertPath,
    APP_ENV: 'production',
    API_KEY,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: options.logLevel,
    DATABASE_URL: databaseUrl,
    DNS_PROVIDER: 'rfc2136',
    RFC2136_NAMESERVER: `${tb.bind.host}:${tb.bind.port}`,
    RFC2136_TSIG_KEY: tb.bind.tsigKeyName,
    RFC2136_TSIG_SECRET: tb.bind.tsigSecret,
    RFC2136_TSIG_ALGORITHM: 'hmac-sha256.',
    DNS_RESOLVERS: `${tb.bind.host}:${tb.bind.port}`,
    DNS_PROPAGATION_TIMEOUT: '30',
    SECRETS_PROVIDER: 'file',
    SECRETS_DIR: secretsDir,
    LE_DIRECTORY_URL: tb.pebble.directoryUrl,
    LE_ACCOUNT_KEY_SECRET_NAME: ACCOUNT_SECRET,
    ACME_KEY_TYPE: 'ec256',
    ACME_ORDER_BUDGET: String(Math.max(300, n * 2)),
    FASTLY_API_TOKEN: FASTLY_TOKEN,
    FASTLY_API_URL: fastly.url,
    FASTLY_TLS_CONFIGURATION_ID: TLS_CONFIGURATION_ID,
    FASTLY_ALLOW_UNTRUSTED_ROOT: 'true',
    TLS_PROBE_HOST: '127.0.0.1',
    TLS_PROBE_PORT: String(probePort),
    MAX_DOMAINS_PER_RUN: String(n),
    CONCURRENCY: String(variant.concurrency),
    RUN_TIMEOUT: '3600',
  };
  const nodeArgs: string[] = [...(options.nodeFlags ?? [])];
  let profileDir: string | undefined;
  if (options.profileDir) {
    profileDir = path.join(options.profileDir, `autotls-${variant.database}-c${variant.concurrency}`);
    mkdirSync(profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profileDir);
  }
  if (options.memProbe) nodeArgs.push('--import', path.join(repoRoot, 'bench', 'lib', 'memprobe.mjs'));
  const logFile = path.join(dir, 'autotls.log');
  const t0 = performance.now();
  const proc = spawnManaged({
    dir: tb.dir,
    name: 'autotls',
    command: process.execPath,
    args: [...nodeArgs, path.join(options.root, 'dist', 'main.js')],
    cwd: dir,
    env,
    logPath: logFile,
    graceMs: 30_000,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(`AutoTLS on ${url}`, async () => (await httpCall(`${url}/readyz`, { timeoutMs: 1000, headers: { 'Flask-Key': API_KEY } })).status === 200, { timeoutMs: 60_000, proc, intervalMs: 50 });
    const startupMs = ms(t0);
    // The service is up before cron calls it: let start-up work settle.
    await new Promise((r) => setTimeout(r, options.settleMs ?? 0));
    const idleKb = procStatusKb(proc.pid, 'VmRSS');
    if (options.memProbe) process.kill(proc.pid, 'SIGUSR2');

    const dbName = `bench_${tag}`;
    const activity0 = variant.database === 'postgresql' && tb.postgres ? await pgActivity(tb.postgres.adminUrl, dbName) : undefined;
    const first = await timedProcess(tb, url, proc.pid, 'issued', () => proc.log());

    const peakKb = procStatusKb(proc.pid, 'VmHWM');
    const result: AutotlsResult = {
      stage: 'autotls',
      database: variant.database,
      concurrency: variant.concurrency,
      n,
      wallMs: first.wallMs,
      certsPerSecond: (first.succeeded / first.wallMs) * 1000,
      succeeded: first.succeeded,
      failed: first.failed,
      runStatus: first.runStatus,
      httpStatus: first.httpStatus,
      fastlyCertificates: fastly.certs.size,
      peakRssMb: peakKb === undefined ? undefined : peakKb / 1024,
      idleRssMb: idleKb === undefined ? undefined : idleKb / 1024,
      cpu: first.cpu,
      startupMs,
      firstIssuedMs: first.firstIssuedMs,
      lastIssuedMs: first.lastIssuedMs,
    };
    if (options.renewalRun) {
      // Everything due again; the same process renews the same N (warm JIT, ACME account known).
      await makeAllDue(variant.database, databaseUrl);
      const second = await timedProcess(tb, url, proc.pid, 'renewed', () => proc.log());
      const peak2 = procStatusKb(proc.pid, 'VmHWM');
      result.renewal = {
        wallMs: second.wallMs,
        certsPerSecond: (second.succeeded / second.wallMs) * 1000,
        succeeded: second.succeeded,
        failed: second.failed,
        cpu: second.cpu,
        fastlyCertificates: fastly.certs.size,
        peakRssMb: peak2 === undefined ? undefined : peak2 / 1024,
        firstIssuedMs: second.firstIssuedMs,
        lastIssuedMs: second.lastIssuedMs,
      };
    }
    const window = first.window;
    await proc.stop();
    if (activity0 && tb.postgres) {
      // Backends report their statistics when they exit (or after up to 10 s idle): read them once AutoTLS has stopped.
      const activity1 = await pgActivity(tb.postgres.adminUrl, dbName);
      const certificates = Math.max(1, result.succeeded + (result.renewal?.succeeded ?? 0));
      result.dbPerCertificate = Object.fromEntries(Object.keys(activity1).map((k) => [k, Math.round((((activity1[k] ?? 0) - (activity0[k] ?? 0)) / certificates) * 10) / 10]));
    }
    if (options.memProbe) {
      const text = await proc.log();
      const find = (kind: string): unknown => {
        const line = text.split('\n').find((l) => l.startsWith(`MEMPROBE ${kind} `));
        return line ? (JSON.parse(line.slice(`MEMPROBE ${kind} `.length)) as unknown) : undefined;
      };
      result.memory = { idle: find('idle'), peak: find('peak') };
    }
    if (options.keepLogs) {
      const kept = path.join(repoRoot, 'bench', 'tmp', 'logs', `autotls-${variant.database}-c${variant.concurrency}-n${n}.log`);
      mkdirSync(path.dirname(kept), { recursive: true });
      copyFileSync(logFile, kept);
      result.logFile = kept;
    }
    if (profileDir) {
      const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).sort();
      const last = files[files.length - 1];
      if (last) result.profile = summariseProfile(path.join(profileDir, last), options.root, window);
      else log(`no CPU profile was written in ${profileDir}`);
    }
    return result;
  } catch (error) {
    const text = await proc.log();
    throw new Error(`AutoTLS ${variant.database} c=${variant.concurrency}: ${errorText(error)}\n--- log tail ---\n${text.trimEnd().split('\n').slice(-15).join('\n')}`, { cause: error });
  } finally {
    await proc.stop();
    await fastly.stop();
  }
}
