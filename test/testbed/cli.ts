// Standalone testbed: starts everything, prints timings and the TestbedInfo,
// then stops (default) or keeps running until SIGINT/SIGTERM (--keep).
//
//   node --import tsx test/testbed/cli.ts            # measure start-up, then stop
//   node --import tsx test/testbed/cli.ts --keep     # run until Ctrl-C
//   node --import tsx test/testbed/cli.ts --repeat 5 # start/stop 5 times, report each
import { startTestbed } from './services.js';

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const repeatIdx = args.indexOf('--repeat');
const repeat = repeatIdx >= 0 ? Number(args[repeatIdx + 1] ?? '1') : 1;

for (let i = 0; i < repeat; i++) {
  const tb = await startTestbed();
  const t = tb.timings;
  console.error(`testbed up in ${t.total} ms (bind ${t.bind}, pebble ${t.pebble}, postgres ${t.postgres}, moto ${t.moto})`);
  if (keep) {
    console.log(JSON.stringify(tb.info, null, 2));
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  }
  const s0 = Date.now();
  await tb.stop();
  console.error(`testbed stopped in ${Date.now() - s0} ms`);
}
