// Command line of `npm run bench -- [options]`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const STAGES = ['bare', 'autotls', 'certbot', 'lego', 'select'] as const;
export type Stage = (typeof STAGES)[number];

export interface BenchOptions {
  n: number;
  quick: boolean;
  stages: Set<Stage>;
  concurrencies: number[];
  databases: Array<'sqlite' | 'postgresql'>;
  /** Rows seeded for the selection benchmark, and timed calls of selectDue. */
  rows: number;
  iterations: number;
  /** Also try candidate indexes on the seeded databases (selection stage). */
  profile: boolean;
  /** Preload bench/lib/memprobe.mjs into AutoTLS: memory breakdown at idle and at the peak. */
  memProbe: boolean;
  /** Extra node flags for the AutoTLS process (experiments, e.g. --max-semi-space-size=4). */
  nodeFlags: string[];
  /** A second `/process` per AutoTLS variant, renewing the same N in the same process. */
  renewalRun: boolean;
  /** ms between AutoTLS being ready and the timed `/process` (the service is up before cron calls it). */
  settleMs: number;
  /** Repetitions of the bare-loop and AutoTLS measurements (the table shows the median). */
  repeat: number;
  build: boolean;
  /** AutoTLS checkout whose dist/main.js is run (a patched copy for experiments). */
  root: string;
  logLevel: string;
  /** Copy each AutoTLS log to bench/tmp/logs/. */
  keepLogs: boolean;
  out: string;
  help: boolean;
}

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const USAGE = `npm run bench -- [options]

  --n <N>                 domains (zones b001.test ...), default 50
  --quick                 smoke check: N=5, 10k rows, 50 selection calls; JSON to bench/tmp/
  --only <stages>         comma-separated subset of: ${STAGES.join(', ')}
  --skip <stages>         stages to leave out
  --concurrency <list>    AutoTLS and bare-loop concurrency levels, default 5,20
  --databases <list>      sqlite,postgresql (default both)
  --repeat <k>            repeat the bare-loop and AutoTLS measurements k times (interleaved; median shown)
  --rows <R>              rows seeded for the selection benchmark, default 100000
  --iterations <I>        timed selectDue calls per database, default 200
  --no-renewal-run        skip the second /process per AutoTLS variant (renewing the same N, warm process)
  --settle <ms>           wait between AutoTLS being ready and the timed /process, default 1000
  --profile               run AutoTLS under node --cpu-prof (bench/profiles/, summarised)
  --mem-probe             preload bench/lib/memprobe.mjs into AutoTLS (memory breakdown at idle and peak)
  --node-flags "<flags>"  extra node flags for the AutoTLS process (memory or GC experiments)
  --no-build              run dist/ of the checkout as it is (default: a tsc build of a snapshot of src/)
  --root <dir>            run dist/main.js of this AutoTLS checkout (default: this repo)
  --log-level <level>     AutoTLS LOG_LEVEL, default info
  --keep-logs             copy each AutoTLS log to bench/tmp/logs/ (with a per-phase timeline)
  --out <file>            JSON output, default bench/results/<YYYY-MM-DD>.json
`;

function list(value: string | undefined, flag: string): string[] {
  if (value === undefined) throw new Error(`${flag} needs a value`);
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function positiveInt(value: string | undefined, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function stagesOf(values: string[], flag: string): Stage[] {
  for (const v of values) if (!(STAGES as readonly string[]).includes(v)) throw new Error(`${flag}: unknown stage ${v} (known: ${STAGES.join(', ')})`);
  return values as Stage[];
}

export function parseArgs(argv: string[]): BenchOptions {
  const today = new Date().toISOString().slice(0, 10);
  let n: number | undefined;
  let rows: number | undefined;
  let iterations: number | undefined;
  let out: string | undefined;
  const o: BenchOptions = {
    n: 50,
    quick: false,
    stages: new Set(STAGES),
    concurrencies: [5, 20],
    databases: ['sqlite', 'postgresql'],
    rows: 100_000,
    iterations: 200,
    profile: false,
    memProbe: false,
    nodeFlags: [],
    renewalRun: true,
    settleMs: 1000,
    repeat: 1,
    build: true,
    root: repoRoot,
    logLevel: 'info',
    keepLogs: false,
    out: '',
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string | undefined => argv[++i];
    switch (a) {
      case '--n': n = positiveInt(next(), a); break;
      case '--quick': o.quick = true; break;
      case '--only': o.stages = new Set(stagesOf(list(next(), a), a)); break;
      case '--skip': for (const s of stagesOf(list(next(), a), a)) o.stages.delete(s); break;
      case '--concurrency': o.concurrencies = list(next(), a).map((v) => positiveInt(v, a)); break;
      case '--databases': {
        const dbs = list(next(), a);
        for (const d of dbs) if (d !== 'sqlite' && d !== 'postgresql') throw new Error(`${a}: sqlite or postgresql, got ${d}`);
        o.databases = dbs as Array<'sqlite' | 'postgresql'>;
        break;
      }
      case '--rows': rows = positiveInt(next(), a); break;
      case '--iterations': iterations = positiveInt(next(), a); break;
      case '--profile': o.profile = true; break;
      case '--mem-probe': o.memProbe = true; break;
      case '--repeat': o.repeat = positiveInt(next(), a); break;
      case '--no-renewal-run': o.renewalRun = false; break;
      case '--settle': o.settleMs = Number(next()); if (!Number.isFinite(o.settleMs) || o.settleMs < 0) throw new Error('--settle needs a number of ms'); break;
      case '--node-flags': o.nodeFlags = (next() ?? '').split(/\s+/).filter(Boolean); break;
      case '--no-build': o.build = false; break;
      case '--root': o.root = path.resolve(next() ?? ''); break;
      case '--log-level': o.logLevel = next() ?? 'info'; break;
      case '--keep-logs': o.keepLogs = true; break;
      case '--out': out = path.resolve(next() ?? ''); break;
      case '--help': case '-h': o.help = true; break;
      default: throw new Error(`unknown option ${a}\n\n${USAGE}`);
    }
  }
  o.n = n ?? (o.quick ? 5 : 50);
  o.rows = rows ?? (o.quick ? 10_000 : 100_000);
  o.iterations = iterations ?? (o.quick ? 50 : 200);
  o.out = out ?? path.join(repoRoot, 'bench', o.quick ? 'tmp' : 'results', `${o.quick ? 'quick-' : ''}${today}.json`);
  return o;
}
