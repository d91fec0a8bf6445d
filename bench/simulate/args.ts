// Command line of `npm run simulate -- [options]` and the --fault specs.
import { Cron } from 'croner';

export type SimProfile = 'classic' | 'tlsserver' | 'shortlived';

export type FaultSpec =
  | { kind: 'ca-outage'; atDays: number; hours: number }
  | { kind: 'dns-fail'; percent: number }
  | { kind: 'fastly-503'; percent: number }
  | { kind: 'crash'; perWeek: number }
  | { kind: 'revoke'; percent: number; atDays: number; noticeHours: number }
  | { kind: 'import'; count: number; atDays: number };

export interface SimOptions {
  domains: number;
  start: Date;
  days: number;
  profile: SimProfile;
  /** `continuous` or a cron expression. */
  schedule: string;
  maxPerRun: number | undefined;
  concurrency: number | undefined;
  db: 'sqlite' | 'postgresql';
  seed: number;
  out: string;
  faults: FaultSpec[];
  /** Simulated seconds one domain's work takes (the clock moves by this / CONCURRENCY per domain after a wake). */
  secondsPerDomain: number;
  /** Whether the fleet starts covered (certificates issued over one renewal interval before --start). */
  warm: boolean;
  logLevel: string;
  /** Stop (and report what was reached) after this many wall seconds; 0: no limit. */
  wallLimitSeconds: number;
  help: boolean;
}

export const USAGE = `npm run simulate -- [options]

  --domains N            fleet size (default 500)
  --start YYYY-MM-DD     first simulated day (default 2027-01-01)
  --days D               simulated days (default 60)
  --profile P            classic | tlsserver | shortlived (default classic)
  --schedule S           continuous | "<cron>" (default continuous)
  --max-per-run N        MAX_DOMAINS_PER_RUN (default: the service's, 10)
  --concurrency N        CONCURRENCY (default: the service's, 5)
  --db sqlite|postgresql database (postgresql: SIMULATE_DATABASE_URL, else a throwaway cluster)
  --seed N               seed of every random draw (default 1)
  --out DIR              where summary.json and chart.svg go (default bench/tmp/simulate)
  --fault SPEC           repeatable:
                           ca-outage:+Nd:HOURS        the CA is unreachable for HOURS from day N
                           dns-fail:PCT               PCT% of DNS publishes fail
                           fastly-503:PCT             PCT% of Fastly calls answer 503 (the client retries 3 times)
                           crash:PER_WEEK             the process dies at a random step, restarts on the same database
                           revoke:PCT:+Nd:NOTICE_H    ARI announces revocation of PCT% of the certificates on day N,
                                                      revoked NOTICE_H hours later
                           import:N:+Nd               N new domains appear at once on day N
  --seconds-per-domain S simulated time one domain's work takes (default 20)
  --cold                 start with no certificates (default: the fleet is covered at --start)
  --log-level L          the service's log level (default silent)
  --wall-limit S         stop after S wall seconds and report the simulated time reached (summary: truncated)
`;

function num(name: string, value: string | undefined, { min = 0, integer = true } = {}): number {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new Error(`${name}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function days(spec: string, value: string | undefined): number {
  const match = /^\+?(\d+(?:\.\d+)?)d$/.exec(value ?? '');
  if (!match) throw new Error(`--fault ${spec}: expected a day offset like +30d, got ${JSON.stringify(value)}`);
  return Number(match[1]);
}

export function parseFault(spec: string): FaultSpec {
  const [kind, ...parts] = spec.split(':');
  const pct = (v: string | undefined) => num(`--fault ${spec}`, v, { integer: false });
  switch (kind) {
    case 'ca-outage':
      return { kind, atDays: days(spec, parts[0]), hours: pct(parts[1]) };
    case 'dns-fail':
    case 'fastly-503':
      return { kind, percent: Math.min(100, pct(parts[0])) };
    case 'crash':
      return { kind, perWeek: pct(parts[0]) };
    case 'revoke':
      return { kind, percent: Math.min(100, pct(parts[0])), atDays: days(spec, parts[1]), noticeHours: pct(parts[2]) };
    case 'import':
      return { kind, count: num(`--fault ${spec}`, parts[0], { min: 1 }), atDays: days(spec, parts[1]) };
    default:
      throw new Error(`--fault ${spec}: unknown fault (ca-outage, dns-fail, fastly-503, crash, revoke, import)`);
  }
}

export function parseArgs(argv: readonly string[]): SimOptions {
  const options: SimOptions = {
    domains: 500,
    start: new Date('2027-01-01T00:00:00Z'),
    days: 60,
    profile: 'classic',
    schedule: 'continuous',
    maxPerRun: undefined,
    concurrency: undefined,
    db: 'sqlite',
    seed: 1,
    out: 'bench/tmp/simulate',
    faults: [],
    secondsPerDomain: 20,
    warm: true,
    logLevel: 'silent',
    wallLimitSeconds: 0,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--domains': options.domains = num(flag, value(), { min: 1 }); break;
      case '--start': {
        const v = value();
        if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new Error(`--start: expected YYYY-MM-DD, got ${v}`);
        options.start = new Date(`${v}T00:00:00Z`);
        break;
      }
      case '--days': options.days = num(flag, value(), { min: 0.01, integer: false }); break;
      case '--profile': {
        const v = value();
        if (v !== 'classic' && v !== 'tlsserver' && v !== 'shortlived') throw new Error(`--profile: classic, tlsserver or shortlived, got ${v}`);
        options.profile = v;
        break;
      }
      case '--schedule': {
        const v = value();
        if (v !== 'continuous') new Cron(v, { paused: true }).stop(); // throws on a bad expression
        options.schedule = v;
        break;
      }
      case '--max-per-run': options.maxPerRun = num(flag, value(), { min: 1 }); break;
      case '--concurrency': options.concurrency = num(flag, value(), { min: 1 }); break;
      case '--db': {
        const v = value();
        if (v !== 'sqlite' && v !== 'postgresql') throw new Error(`--db: sqlite or postgresql, got ${v}`);
        options.db = v;
        break;
      }
      case '--seed': options.seed = num(flag, value()); break;
      case '--out': options.out = value(); break;
      case '--fault': options.faults.push(parseFault(value())); break;
      case '--seconds-per-domain': options.secondsPerDomain = num(flag, value(), { integer: false }); break;
      case '--cold': options.warm = false; break;
      case '--log-level': options.logLevel = value(); break;
      case '--wall-limit': options.wallLimitSeconds = num(flag, value()); break;
      case '--help':
      case '-h': options.help = true; break;
      default:
        throw new Error(`unknown option ${flag} (see --help)`);
    }
  }
  return options;
}
