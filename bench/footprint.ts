// Footprint at 100,000 recorded domains (issue 13, "Footprint at 100,000
// domains"): start-up time to /readyz against an empty database, peak RSS
// (VmHWM) from start through a /metrics scrape and a /process run, and the size
// of the scrape. The real service (dist/main.js, built first) runs as a
// subprocess on a SQLite database filled by a fast bulk insert.
//
//   npm run bench:footprint                      # 100,000 domains, 3 start-ups each
//   npm run bench:footprint -- --domains 20000 --repeat 1 --no-build
//
// Results: bench/results/footprint-<YYYY-MM-DD>.json and a table on stdout.
// Only loopback; the /process run talks to no CA (its directory URL is a closed
// loopback port), so it measures selection and the flow's failure path, not issuance.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { applyMigrations } from '../src/db/migrate.js';
import { httpCall, procStatusKb } from './lib/util.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const API_KEY = 'footprint-bench-api-key-0123456789';
const DAY = 86_400_000;

interface Options {
  domains: number;
  repeat: number;
  build: boolean;
  out: string;
  /** Checkout whose dist/main.js runs (default this one), e.g. a build of an older commit. */
  root: string;
  label: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { domains: 100_000, repeat: 3, build: true, out: path.join(repoRoot, 'bench', 'results'), root: repoRoot, label: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--domains') options.domains = Number(argv[++i]);
    else if (a === '--repeat') options.repeat = Number(argv[++i]);
    else if (a === '--no-build') options.build = false;
    else if (a === '--out') options.out = path.resolve(argv[++i] ?? '.');
    else if (a === '--root') [options.root, options.build] = [path.resolve(argv[++i] ?? '.'), false];
    else if (a === '--label') options.label = argv[++i] ?? '';
    else if (a === '--help') {
      process.stdout.write('npm run bench:footprint -- [--domains N] [--repeat K] [--no-build] [--out DIR] [--root CHECKOUT --label NAME]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(options.domains) || options.domains < 0) throw new Error('--domains must be a whole number');
  return options;
}

/** The text form the Prisma better-sqlite3 adapter stores a DateTime in. */
const sqliteTime = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString().replace('Z', '+00:00'));

/**
 * A fleet that keeps up: 99% of certificates healthy (notAfter spread over
 * 30–90 days, renewal a third of the lifetime before expiry, so not yet due),
 * 1% needing attention: renewal due, in backoff after a failure, or expiring
 * within 14 days. Every domain is a Let's Encrypt domain with a zone.
 */
function seed(file: string, domains: number, now: number): { watched: number } {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  let watched = 0;
  try {
    const d = db.prepare(
      "INSERT INTO domains (id, name, tld, zone_id, status, owned, tls_exp_date, tls_issuer, fastly_cert) VALUES (?, ?, 'com', ?, 'Active', 1, ?, 'Lets Encrypt', 1)",
    );
    const s = db.prepare(
      "INSERT INTO autotls_domain_state (domain_id, phase, next_renewal_at, cert_not_before, cert_not_after, failure_count, backoff_until, last_outcome, updated_at) VALUES (?, 'recorded', ?, ?, ?, ?, ?, ?, ?)",
    );
    db.transaction(() => {
      for (let i = 1; i <= domains; i++) {
        const kind = i % 100; // 0: due, 1: backoff (failed), 2: expiring within 14 days
        let notAfter = now + 30 * DAY + ((i * 7919) % (60 * DAY));
        let renewal = notAfter - 30 * DAY;
        let backoff: number | null = null;
        let failures = 0;
        let outcome = 'renewed';
        if (kind === 0) renewal = now - DAY;
        if (kind === 1) [backoff, failures, outcome] = [now + 6 * 3600_000, 2, 'failed'];
        if (kind === 2) [notAfter, renewal] = [now + 10 * DAY, now + 9 * DAY];
        if (kind <= 2) watched++;
        d.run(i, `d${i}.fleet.example`, `Z${i}`, sqliteTime(notAfter));
        s.run(i, sqliteTime(renewal), sqliteTime(notAfter - 90 * DAY), sqliteTime(notAfter), failures, sqliteTime(backoff), outcome, sqliteTime(now));
      }
    })();
  } finally {
    db.close();
  }
  return { watched };
}

/** `n` distinct free loopback ports (held open together while chosen, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

interface Sample {
  startupMs: number;
  /** VmHWM when /readyz first answered, and after the first scrape. */
  peakAtReadyMb: number;
  peakAfterScrapeMb: number;
  peakRssMb: number;
  scrapeBytes: number;
  scrapeMs: number;
  processMs: number;
  processStatus: number;
  processResults: number;
}

async function waitReady(url: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`AutoTLS exited with ${proc.exitCode} before /readyz answered`);
    try {
      if ((await httpCall(`${url}/readyz`, { timeoutMs: 1000, headers: { 'Flask-Key': API_KEY } })).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`AutoTLS not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function measure(root: string, dir: string, dbFile: string, accountKeyPem: string, withRun: boolean): Promise<Sample> {
  try {
    return await measureOnce(root, dir, dbFile, accountKeyPem, withRun);
  } catch (error) {
    // Another process on this shared machine took the port between choosing and listening.
    if (!String(error).includes('EADDRINUSE')) throw error;
    return measureOnce(root, dir, dbFile, accountKeyPem, withRun);
  }
}

async function measureOnce(root: string, dir: string, dbFile: string, accountKeyPem: string, withRun: boolean): Promise<Sample> {
  // `closed`: nothing listens there, so the CA, DNS and probe are unreachable.
  const [port, closed] = (await freePorts(2)) as [number, number];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    APP_ENV: 'production',
    API_KEY,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    DATABASE_URL: `file:${dbFile}`,
    DNS_PROVIDER: 'rfc2136',
    RFC2136_NAMESERVER: `127.0.0.1:${closed}`,
    RFC2136_TSIG_KEY: 'bench.',
    RFC2136_TSIG_SECRET: Buffer.from('footprint-bench-tsig-secret').toString('base64'),
    RFC2136_TSIG_ALGORITHM: 'hmac-sha256.',
    SECRETS_PROVIDER: 'file',
    SECRETS_DIR: path.join(dir, 'secrets'),
    LE_DIRECTORY_URL: `http://127.0.0.1:${closed}/dir`,
    LE_ACCOUNT_KEY_SECRET: accountKeyPem,
    TLS_PROBE_HOST: '127.0.0.1',
    TLS_PROBE_PORT: String(closed),
    RUN_TIMEOUT: '300',
  };
  const t0 = performance.now();
  const proc = spawn(process.execPath, [path.join(root, 'dist', 'main.js')], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, proc, 120_000);
    const startupMs = performance.now() - t0;
    const peakAtReadyMb = (procStatusKb(proc.pid as number, 'VmHWM') ?? 0) / 1024;
    const s0 = performance.now();
    const scrape = await httpCall(`${url}/metrics`, { timeoutMs: 60_000 });
    const scrapeMs = performance.now() - s0;
    const peakAfterScrapeMb = (procStatusKb(proc.pid as number, 'VmHWM') ?? 0) / 1024;
    if (scrape.status !== 200) throw new Error(`/metrics answered ${scrape.status}`);
    let processMs = 0;
    let processStatus = 0;
    let processResults = 0;
    if (withRun) {
      const p0 = performance.now();
      const run = await httpCall(`${url}/process`, { method: 'POST', timeoutMs: 300_000, headers: { 'Flask-Key': API_KEY } });
      processMs = performance.now() - p0;
      processStatus = run.status;
      processResults = ((JSON.parse(run.body) as { results?: unknown[] }).results ?? []).length;
      // A second scrape after the run, inside the measured window too.
      await httpCall(`${url}/metrics`, { timeoutMs: 60_000 });
    }
    const peakKb = procStatusKb(proc.pid as number, 'VmHWM') ?? 0;
    return { startupMs, peakAtReadyMb, peakAfterScrapeMb, peakRssMb: peakKb / 1024, scrapeBytes: Buffer.byteLength(scrape.body), scrapeMs, processMs, processStatus, processResults };
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- AutoTLS stderr ---\n${stderr}`);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.build) {
    process.stderr.write('building dist/ (npm run build)...\n');
    const built = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'autotls-footprint-'));
  mkdirSync(path.join(dir, 'secrets'), { recursive: true });
  const silent = pino({ level: 'silent' });
  const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    const emptyDb = path.join(dir, 'empty.db');
    const fleetDb = path.join(dir, 'fleet.db');
    await applyMigrations(`file:${emptyDb}`, 'sqlite', silent);
    await applyMigrations(`file:${fleetDb}`, 'sqlite', silent);
    const s0 = performance.now();
    const { watched } = seed(fleetDb, options.domains, Date.now());
    const seedMs = performance.now() - s0;
    process.stderr.write(`seeded ${options.domains} domains (${watched} needing attention) in ${Math.round(seedMs)} ms\n`);

    const empty: Sample[] = [];
    const fleet: Sample[] = [];
    // Interleaved, so a noisy neighbour on the shared machine hits both alike.
    for (let i = 0; i < options.repeat; i++) {
      const last = i === options.repeat - 1;
      empty.push(await measure(options.root, dir, emptyDb, accountKeyPem, last));
      fleet.push(await measure(options.root, dir, fleetDb, accountKeyPem, last));
      process.stderr.write(`round ${i + 1}/${options.repeat}: start-up empty ${Math.round(empty[i]!.startupMs)} ms, fleet ${Math.round(fleet[i]!.startupMs)} ms\n`);
    }
    const lastEmpty = empty[empty.length - 1] as Sample;
    const lastFleet = fleet[fleet.length - 1] as Sample;
    const startupEmpty = median(empty.map((s) => s.startupMs));
    const startupFleet = median(fleet.map((s) => s.startupMs));
    const result = {
      date: new Date().toISOString(),
      root: path.relative(repoRoot, options.root) || '.',
      label: options.label || undefined,
      node: process.version,
      domains: options.domains,
      watchedDomains: watched,
      repeat: options.repeat,
      seedMs: Math.round(seedMs),
      startupMs: { empty: Math.round(startupEmpty), fleet: Math.round(startupFleet), ratio: Math.round((startupFleet / startupEmpty) * 100) / 100, samplesEmpty: empty.map((s) => Math.round(s.startupMs)), samplesFleet: fleet.map((s) => Math.round(s.startupMs)) },
      peakRssMb: {
        empty: r1(lastEmpty.peakRssMb),
        fleet: r1(lastFleet.peakRssMb),
        ratio: Math.round((lastFleet.peakRssMb / lastEmpty.peakRssMb) * 100) / 100,
        steps: {
          empty: { ready: r1(lastEmpty.peakAtReadyMb), afterScrape: r1(lastEmpty.peakAfterScrapeMb), afterProcess: r1(lastEmpty.peakRssMb) },
          fleet: { ready: r1(lastFleet.peakAtReadyMb), afterScrape: r1(lastFleet.peakAfterScrapeMb), afterProcess: r1(lastFleet.peakRssMb) },
        },
      },
      scrapeBytes: { empty: lastEmpty.scrapeBytes, fleet: lastFleet.scrapeBytes, ratio: Math.round((lastFleet.scrapeBytes / lastEmpty.scrapeBytes) * 100) / 100 },
      scrapeMs: { empty: Math.round(lastEmpty.scrapeMs), fleet: Math.round(lastFleet.scrapeMs) },
      process: {
        empty: { ms: Math.round(lastEmpty.processMs), status: lastEmpty.processStatus, results: lastEmpty.processResults },
        fleet: { ms: Math.round(lastFleet.processMs), status: lastFleet.processStatus, results: lastFleet.processResults },
      },
      targets: {
        peakRssUnder200Mb: lastFleet.peakRssMb < 200,
        scrapeUnder2Mb: lastFleet.scrapeBytes < 2 * 1024 * 1024,
        startupWithin1_5x: startupFleet <= 1.5 * startupEmpty,
      },
    };
    mkdirSync(options.out, { recursive: true });
    const file = path.join(options.out, `footprint-${result.date.slice(0, 10)}${options.label ? `-${options.label}` : ''}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    const t = result;
    process.stdout.write(
      [
        `| ${t.domains.toLocaleString('en')} domains (${t.watchedDomains} need attention) | empty database | fleet | fleet / empty | target |`,
        '|---|---|---|---|---|',
        `| start-up to /readyz (median of ${t.repeat}) | ${t.startupMs.empty} ms | ${t.startupMs.fleet} ms | ${t.startupMs.ratio}× | ≤ 1.5× ${t.targets.startupWithin1_5x ? '✓' : '✗'} |`,
        `| peak RSS (VmHWM), start → /metrics → /process → /metrics | ${t.peakRssMb.empty} MB | ${t.peakRssMb.fleet} MB | ${t.peakRssMb.ratio}× | < 200 MB ${t.targets.peakRssUnder200Mb ? '✓' : '✗'} |`,
        `| peak RSS at /readyz → after the scrape → after /process | ${t.peakRssMb.steps.empty.ready} → ${t.peakRssMb.steps.empty.afterScrape} → ${t.peakRssMb.steps.empty.afterProcess} MB | ${t.peakRssMb.steps.fleet.ready} → ${t.peakRssMb.steps.fleet.afterScrape} → ${t.peakRssMb.steps.fleet.afterProcess} MB | | |`,
        `| /metrics scrape | ${(t.scrapeBytes.empty / 1024).toFixed(1)} KB in ${t.scrapeMs.empty} ms | ${(t.scrapeBytes.fleet / 1024).toFixed(1)} KB in ${t.scrapeMs.fleet} ms | ${t.scrapeBytes.ratio}× | < 2 MB ${t.targets.scrapeUnder2Mb ? '✓' : '✗'} |`,
        `| /process run | HTTP ${t.process.empty.status}, ${t.process.empty.results} domains, ${t.process.empty.ms} ms | HTTP ${t.process.fleet.status}, ${t.process.fleet.results} domains, ${t.process.fleet.ms} ms | | |`,
        '',
        `written to ${path.relative(repoRoot, file)}`,
        '',
      ].join('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
