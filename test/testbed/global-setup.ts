// vitest globalSetup for the `integration` project: brings up the testbed once
// per run (BIND with z01.test ... z60.test + validation.test, one Pebble pointed
// at it: 2.7.0 from ../shared/pebble/pebble, else Debian's 2.4.0, PostgreSQL, moto_server),
// provides its connection details as
// `inject('testbed')` (see ./context.ts) and tears everything down afterwards.
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import './context.js';
import { knotSkipNotice } from './knot.js';
import { testsMarked } from './marked-tests.js';
import { reapStaleTestbeds } from './process.js';
import { SHARED_PEBBLE, startTestbed } from './services.js';
import { probesFor, startWatchdog } from './watchdog.js';

/** `file: title` of every needsPebble27.describe/it in the integration and e2e tests. */
export function pebble27Tests(root?: string): string[] {
  return testsMarked('needsPebble27', root);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Leftovers of runs whose vitest process was SIGKILLed (owner PID gone).
  await reapStaleTestbeds();

  const testbed = await startTestbed();
  const t = testbed.timings;
  const pebble = testbed.info.pebble;
  if (!pebble.ariAndProfiles) {
    const skipped = pebble27Tests();
    console.warn(
      `[testbed] Pebble 2.7.0 not found at ${SHARED_PEBBLE}: using Pebble ${pebble.version} (${pebble.binaryPath}), which has neither ARI nor profiles. ` +
        `Skipping the ${skipped.length} test(s) that need them:\n${skipped.map((s) => `  - ${s}`).join('\n')}`,
    );
  } else if (process.env.TESTBED_VERBOSE) {
    console.error(`[testbed] Pebble ${pebble.version} from ${pebble.binaryPath} (ARI, profiles classic/tlsserver/shortlived)`);
  }
  const knotNotice = knotSkipNotice(); // Knot DNS is started by its test file; say here when it is skipped
  if (knotNotice) console.warn(knotNotice);
  if (process.env.TESTBED_VERBOSE) {
    console.error(`[testbed] up in ${t.total} ms (bind ${t.bind}, pebble ${t.pebble}, postgres ${t.postgres}, moto ${t.moto}) in ${testbed.info.dir}`);
  }

  // Workers are forked after global setup with a copy of process.env: this makes
  // node's https (and acme-client's axios) trust Pebble's HTTPS endpoint there.
  const previousCa = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = testbed.info.caBundlePath;

  project.provide('testbed', testbed.info);
  const watchdog = startWatchdog(probesFor(testbed.info, { bind: join(testbed.bind.dir, `named-${testbed.bind.port}.log`), pebble: testbed.pebble.logPath }));

  return async () => {
    const stalls = await watchdog.stop();
    if (stalls) console.error(stalls);
    if (previousCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = previousCa;
    await testbed.stop();
  };
}
