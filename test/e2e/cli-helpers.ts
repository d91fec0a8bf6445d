// Runs the real `autotls` binary (bin/autotls.js, which imports dist/) in a
// subprocess, as an operator's shell would.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'autotls.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function mtimeOr0(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * `npm run build` unless dist/ is newer than every file under src/ (tsc rewrites
 * every output, so dist/cli/index.js dates the last build). Type errors in files
 * being edited elsewhere do not stop tsc from emitting; only a missing output fails.
 */
export function ensureBuilt(): void {
  const output = join(ROOT, 'dist', 'cli', 'index.js');
  if (mtimeOr0(output) > newestMtime(join(ROOT, 'src'))) return;
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  if (mtimeOr0(output) === 0) throw new Error(`npm run build produced no dist/cli/index.js:\n${build.stdout}${build.stderr}`);
  if (build.status !== 0) process.stderr.write(`[cli test] tsc reported errors but emitted dist/:\n${build.stdout.slice(0, 2000)}\n`);
}

/**
 * `node bin/autotls.js <args>` with exactly `env` (plus PATH, HOME and the
 * testbed's CA bundle), in `cwd` so that no stray `.env` is read.
 */
export function runCli(args: string[], env: Record<string, string>, cwd: string, timeoutMs = 90_000): Promise<CliResult> {
  const childEnv = childEnvironment(env, cwd);
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: childEnv, timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function childEnvironment(env: Record<string, string>, cwd: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? cwd,
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
    ...env,
  };
}

export interface LongRunningCli {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/** A long-running command (`serve`): started, not awaited. */
export function startCli(args: string[], env: Record<string, string>, cwd: string): LongRunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: childEnvironment(env, cwd), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolvePromise) => child.once('exit', (code, signal) => resolvePromise(code ?? signal ?? -1)));
  return { child, output: () => output, exited };
}

/** Parses stdout as JSON, with the whole output in the error when it is not. */
export function jsonOf<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
  }
}

/** For assertion messages. */
export function show(result: CliResult): string {
  return `exit ${result.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}
