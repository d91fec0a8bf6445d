// The whole run: build, testbed, stages in a fixed order, table, JSON.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { run } from '../../test/testbed/process.js';
import type { BenchOptions } from './args.js';
import { repoRoot } from './args.js';
import { runAutotls, type AutotlsResult } from './autotls.js';
import { runBare, type BareResult } from './bare.js';
import { runCertbot, type CertbotResult } from './certbot.js';
import { runLego, type LegoResult } from './lego.js';
import { formatProfile } from './profile.js';
import { buildReport, printTable, writeJson, type BenchReport, type StageError } from './report.js';
import { runSelection, type SelectionResult } from './selection.js';
import { startBenchTestbed, type BenchTestbed } from './testbed.js';
import { debVersion, ensureTools, toolVersion } from './tools.js';
import { errorText, log } from './util.js';

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Copies src/, prisma/, docs/openapi.json and the build config into `dir` and compiles it there. */
async function snapshotBuild(dir: string): Promise<{ root: string; ok: boolean }> {
  const root = path.join(dir, 'autotls-src');
  mkdirSync(root);
  for (const p of ['src', 'prisma', 'package.json', 'tsconfig.json', path.join('docs', 'openapi.json')]) {
    const from = path.join(repoRoot, p);
    if (existsSync(from)) cpSync(from, path.join(root, p), { recursive: true });
  }
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
  try {
    await run(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, timeoutMs: 600_000 });
    return { root, ok: true };
  } catch (error) {
    // tsc emits despite type errors; record it and go on with what was emitted.
    log(`build reported errors (dist/ was still emitted): ${errorText(error).slice(0, 500)}`);
    return { root, ok: false };
  }
}

export async function runBench(o: BenchOptions): Promise<number> {
  const started = new Date();
  const wants = (s: Parameters<typeof o.stages.has>[0]) => o.stages.has(s);
  log(`N=${o.n}, stages ${[...o.stages].join(', ')}, concurrency ${o.concurrencies.join(',')}, databases ${o.databases.join(',')}`);

  await ensureTools({ certbot: wants('certbot'), lego: wants('lego') });
  const needPostgres = o.databases.includes('postgresql') && (wants('autotls') || wants('select'));
  const autotls: AutotlsResult[] = [];
  const bare: BareResult[] = [];
  let certbot: CertbotResult | undefined;
  let lego: LegoResult | undefined;
  let selection: SelectionResult | undefined;
  const errors: StageError[] = [];
  const attempt = async (stage: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (error) {
      log(`${stage} FAILED: ${errorText(error)}`);
      errors.push({ stage, error: errorText(error).slice(0, 4000) });
    }
  };

  let tb: BenchTestbed | undefined;
  let autotlsRoot = o.root;
  let buildOk = true;
  const snapshotCommit = git(['rev-parse', '--short', 'HEAD']);
  const snapshotDirty = git(['status', '--porcelain', '--', 'src', 'prisma']) !== '';
  const load0 = loadavg();
  try {
    tb = await startBenchTestbed(o.n, needPostgres);
    const testbed = tb;
    if (o.build && wants('autotls')) {
      if (o.root === repoRoot) {
        // Other engineers build dist/ in this checkout too: run a private build of a
        // snapshot of the working tree, so that no variant runs a half-rebuilt dist/.
        log('building a snapshot of src/ (tsc) for the AutoTLS runs');
        const snap = await snapshotBuild(testbed.dir);
        autotlsRoot = snap.root;
        buildOk = snap.ok;
      } else {
        log(`npm run build in ${o.root}`);
        try {
          await run('npm', ['run', '--silent', 'build'], { cwd: o.root, timeoutMs: 600_000 });
        } catch (error) {
          buildOk = false;
          log(`build reported errors (dist/ was still emitted): ${errorText(error).slice(0, 500)}`);
        }
      }
    }
    // Interleaved by concurrency, so that drift in the machine's load hits both sides of a ratio alike.
    for (let rep = 1; rep <= o.repeat; rep++) for (const c of o.concurrencies) {
      if (o.repeat > 1) log(`repetition ${rep}/${o.repeat}, concurrency ${c}`);
      if (wants('bare')) {
        await attempt(`bare c=${c}`, async () => {
          log(`bare acme-client loop, concurrency ${c}`);
          const r = await runBare(testbed, c);
          bare.push(r);
          log(`bare c=${c}: ${r.succeeded}/${r.n} in ${(r.wallMs / 1000).toFixed(2)} s`);
        });
      }
      if (wants('autotls')) {
        for (const database of o.databases) {
          await attempt(`autotls ${database} c=${c}`, async () => {
            log(`AutoTLS ${database}, concurrency ${c}`);
            const r = await runAutotls(testbed, { database, concurrency: c }, {
              root: autotlsRoot,
              logLevel: o.logLevel,
              keepLogs: o.keepLogs,
              memProbe: o.memProbe,
              nodeFlags: o.nodeFlags,
              renewalRun: o.renewalRun,
              settleMs: o.settleMs,
              ...(o.profile ? { profileDir: path.join(repoRoot, 'bench', 'profiles') } : {}),
            });
            autotls.push(r);
            log(`AutoTLS ${database} c=${c}: ${r.succeeded}/${r.n} in ${(r.wallMs / 1000).toFixed(2)} s (first certificate after ${r.firstIssuedMs ?? '?'} ms), peak RSS ${r.peakRssMb?.toFixed(0) ?? '?'} MB${r.failed.length ? `; failures: ${r.failed.slice(0, 3).join(' | ')}` : ''}`);
            if (r.renewal) log(`AutoTLS ${database} c=${c} renewal run: ${r.renewal.succeeded}/${r.n} in ${(r.renewal.wallMs / 1000).toFixed(2)} s (first certificate after ${r.renewal.firstIssuedMs ?? '?'} ms)${r.renewal.failed.length ? `; failures: ${r.renewal.failed.slice(0, 3).join(' | ')}` : ''}`);
            if (r.profile) log(`\n${formatProfile(r.profile)}`);
            if (r.memory) log(`memory (MB) idle ${JSON.stringify(r.memory.idle)}\n  peak ${JSON.stringify(r.memory.peak)}`);
          });
        }
      }
    }
    if (wants('certbot')) {
      await attempt('certbot', async () => {
        log('certbot: obtaining lineages (sequential certonly)');
        certbot = await runCertbot(testbed);
        log(`certbot renew: ${certbot.succeeded}/${certbot.n} in ${(certbot.wallMs / 1000).toFixed(1)} s`);
      });
    }
    if (wants('lego')) {
      await attempt('lego', async () => {
        log('lego: one process per certificate, sequential');
        lego = await runLego(testbed);
        log(`lego: ${lego.succeeded}/${lego.n} in ${(lego.wallMs / 1000).toFixed(1)} s`);
      });
    }
    if (wants('select')) {
      await attempt('select', async () => {
        selection = await runSelection(testbed, { rows: o.rows, iterations: o.iterations, databases: o.databases });
      });
    }
  } catch (error) {
    log(`testbed FAILED: ${errorText(error)}`);
    errors.push({ stage: 'testbed', error: errorText(error) });
  } finally {
    if (tb) {
      log('stopping the testbed');
      await tb.stop();
    }
  }

  const report: BenchReport = buildReport({
    date: started.toISOString(),
    options: { n: o.n, quick: o.quick, repeat: o.repeat, nodeFlags: o.nodeFlags, settleMs: o.settleMs, renewalRun: o.renewalRun, stages: [...o.stages], concurrencies: o.concurrencies, databases: o.databases, rows: o.rows, iterations: o.iterations, profile: o.profile, logLevel: o.logLevel, root: o.root },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      loadavgBefore: load0.map((l) => Math.round(l * 100) / 100),
      loadavgAfter: loadavg().map((l) => Math.round(l * 100) / 100),
      node: process.version,
    },
    versions: {
      // The state of src/ and prisma/ when the AutoTLS snapshot was taken (the selection stage reads src/ at start and prisma/ when it runs).
      commit: snapshotCommit,
      dirtySrc: snapshotDirty,
      buildOk,
      autotlsBuild: autotlsRoot === o.root && o.root !== repoRoot ? o.root : autotlsRoot === repoRoot ? 'dist/ of the checkout (--no-build)' : 'snapshot of the working tree, built with tsc',
      certbot: wants('certbot') ? debVersion('certbot') : 'not run',
      certbotRfc2136: wants('certbot') ? debVersion('python3-certbot-dns-rfc2136') : 'not run',
      lego: wants('lego') ? debVersion('lego') : 'not run',
      pebble: debVersion('pebble'),
      bind9: debVersion('bind9'),
      postgresql: needPostgres ? toolVersion('psql') : 'not run',
    },
    autotls,
    bare,
    certbot,
    lego,
    selection,
    errors,
  });
  printTable(report);
  writeJson(o.out, report);
  log(`results written to ${path.relative(process.cwd(), o.out)}`);
  return errors.length > 0 || report.verdict.allSucceeded === false ? 1 : 0;
}
