// vitest globalSetup for the `integration` project: brings up the testbed once
// per run (BIND with z01.test ... z60.test + validation.test, one Pebble pointed
// at it, PostgreSQL, moto_server), provides its connection details as
// `inject('testbed')` (see ./context.ts) and tears everything down afterwards.
import type { TestProject } from 'vitest/node';
import './context.js';
import { reapStaleTestbeds } from './process.js';
import { startTestbed } from './services.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Leftovers of runs whose vitest process was SIGKILLed (owner PID gone).
  await reapStaleTestbeds();

  const testbed = await startTestbed();
  const t = testbed.timings;
  if (process.env.TESTBED_VERBOSE) {
    console.error(`[testbed] up in ${t.total} ms (bind ${t.bind}, pebble ${t.pebble}, postgres ${t.postgres}, moto ${t.moto}) in ${testbed.info.dir}`);
  }

  // Workers are forked after global setup with a copy of process.env: this makes
  // node's https (and acme-client's axios) trust Pebble's HTTPS endpoint there.
  const previousCa = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = testbed.info.caBundlePath;

  project.provide('testbed', testbed.info);

  return async () => {
    if (previousCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = previousCa;
    await testbed.stop();
  };
}
