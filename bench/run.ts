// `npm run bench`: AutoTLS against certbot, lego and the bare ACME loop on one
// local testbed (BIND9 + Pebble + PostgreSQL, loopback only). See bench/README.md.
import { parseArgs, USAGE } from './lib/args.js';
import { runBench } from './lib/bench.js';

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
} else {
  const code = await runBench(options);
  process.exitCode = code;
}
