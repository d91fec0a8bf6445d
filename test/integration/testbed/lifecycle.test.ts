// No testbed process may outlive its owner, however the owner ends.
// Each case runs test/integration/testbed/fixtures/lifecycle.ts in a child node
// process, which starts a testbed of its own and prints every PID: the complete
// one (BIND, 2x Pebble, PostgreSQL with its child processes, moto) for the main
// paths (stop(), exit handler, PID registry), a light one (BIND, 2x Pebble) for
// the variations of those paths, to keep this file fast on 2 cores.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAlive, reapStaleTestbeds, sleep } from '../../testbed/process.js';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lifecycle.ts');

interface Ready {
  dir: string;
  pidFile: string;
  registered: number[];
  pids: number[];
  secondPebble: number;
  light: boolean;
}

interface Outcome {
  ready: Ready;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Live processes whose command line mentions `dir` (assertion only: we never signal by this). */
function processesMentioning(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid || !isAlive(Number(e))) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(dir)) out.push(`${e}: ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

function runEarlyKill(): Promise<{ dir: string; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, 'wait', 'full'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let dir: string | undefined;
    let poll: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /^DIR (.+)$/m.exec(stdout);
      if (m && !dir) {
        dir = m[1]!;
        // As soon as PostgreSQL's directory exists (initdb is starting), terminate the owner.
        poll = setInterval(() => {
          const pgDir = existsSync(dir!) ? readdirSync(dir!).find((f) => f.startsWith('postgres-')) : undefined;
          if (pgDir) {
            clearInterval(poll);
            child.kill('SIGTERM');
          }
        }, 5);
      }
    });
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      if (!dir) reject(new Error('fixture never printed DIR'));
      else resolve({ dir, code, signal });
    });
  });
}

function runFixture(mode: string, size: 'full' | 'light', onReady?: (pid: number) => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode, size], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ready: Ready | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /^READY (.+)$/m.exec(stdout);
      if (m && !ready) {
        ready = JSON.parse(m[1]!) as Ready;
        onReady?.(child.pid!);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (!ready) reject(new Error(`fixture (${mode}) never became ready (code ${code}, signal ${signal}):\n${stderr}`));
      else resolve({ ready, code, signal, stderr });
    });
  });
}

/** PIDs that are still running (zombies count as gone) after waiting up to `ms`. */
async function survivors(pids: number[], ms = 5000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const alive = pids.filter((pid) => isAlive(pid));
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await sleep(50);
  }
}

function expectSane(ready: Ready): void {
  expect(ready.registered).toContain(ready.secondPebble);
  if (ready.light) {
    expect(ready.registered).toHaveLength(3); // named, 2x pebble
  } else {
    // named, 2x pebble, postgres, moto; postgres adds its (setsid'd) child processes.
    expect(ready.registered.length).toBeGreaterThanOrEqual(5);
    expect(ready.pids.length).toBeGreaterThan(ready.registered.length);
  }
}

describe('testbed lifecycle: nothing survives its owner', () => {
  it('stop() ends every process and removes the temp dir', async () => {
    const { ready, code, stderr } = await runFixture('stop', 'full');
    expect(code, stderr).toBe(0);
    expectSane(ready);
    expect(await survivors(ready.pids, 0)).toEqual([]); // already gone when stop() resolved
    expect(existsSync(ready.dir)).toBe(false);
  });

  it('a failure inside try/finally still tears down', async () => {
    const { ready, code } = await runFixture('finally', 'light');
    expectSane(ready);
    expect(code).toBe(1);
    expect(await survivors(ready.pids, 0)).toEqual([]);
    expect(existsSync(ready.dir)).toBe(false);
  });

  it('an uncaught exception with no teardown code: the exit handler kills everything', async () => {
    const { ready, code, stderr } = await runFixture('throw', 'full');
    expectSane(ready);
    expect(code).toBe(1);
    expect(stderr).toContain('uncaught failure after start-up');
    expect(await survivors(ready.pids)).toEqual([]);
    expect(existsSync(ready.dir)).toBe(false);
  });

  it('process.exit() without teardown', async () => {
    const { ready, code } = await runFixture('exit', 'light');
    expectSane(ready);
    expect(code).toBe(3);
    expect(await survivors(ready.pids)).toEqual([]);
    expect(existsSync(ready.dir)).toBe(false);
  });

  it('SIGTERM to the owner', async () => {
    const { ready, signal } = await runFixture('wait', 'light', (pid) => process.kill(pid, 'SIGTERM'));
    expectSane(ready);
    expect(signal).toBe('SIGTERM');
    expect(await survivors(ready.pids)).toEqual([]);
    expect(existsSync(ready.dir)).toBe(false);
  });

  it('SIGTERM during start-up (initdb running): nothing survives, the directory stays gone', async () => {
    const { dir, signal } = await runEarlyKill();
    expect(signal).toBe('SIGTERM');
    const deadline = Date.now() + 5000;
    while (processesMentioning(dir).length > 0 && Date.now() < deadline) await sleep(50);
    expect(processesMentioning(dir)).toEqual([]);
    await sleep(500); // a surviving initdb would recreate the directory
    expect(existsSync(dir)).toBe(false);
  });

  it('SIGKILL to the owner: reapStaleTestbeds() cleans up from the PID registry', async () => {
    const { ready, signal } = await runFixture('wait', 'full', (pid) => process.kill(pid, 'SIGKILL'));
    expectSane(ready);
    expect(signal).toBe('SIGKILL');
    // Nothing could run in the owner: its services are orphaned but still up. (Another
    // vitest run starting right now may reap them first: its global setup calls
    // reapStaleTestbeds() too; then the directory is already gone.)
    const orphans = await survivors(ready.registered, 0);
    expect(orphans.length === ready.registered.length || !existsSync(ready.dir)).toBe(true);
    const reaped = await reapStaleTestbeds();
    expect(reaped.includes(ready.dir) || orphans.length < ready.registered.length).toBe(true);
    expect(await survivors(ready.pids)).toEqual([]);
    expect(existsSync(ready.dir)).toBe(false);
  });
});
