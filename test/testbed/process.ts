// Process plumbing for the testbed: one temp directory per testbed, detached
// children in their own process groups, a PID registry file inside the temp
// directory, and stop-by-PID (SIGTERM, then SIGKILL after a grace period).
//
// Safety rules: we only ever signal processes that we started. A PID read back
// from a registry file is only signalled when /proc/<pid>/stat still shows the
// same start time that was recorded when we spawned it (protection against PID
// reuse). Processes are never looked up by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, chmodSync, writeFileSync, openSync, closeSync, accessSync, constants as fsConstants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const TESTBED_DIR_PREFIX = 'autotls-testbed-';
const REGISTRY_FILE = 'pids.jsonl';
const OWNER_FILE = 'owner.json';

/** One line of the PID registry (JSON lines in `<dir>/pids.jsonl`). */
export interface RegistryEntry {
  pid: number;
  name: string;
  /** Field 22 of /proc/<pid>/stat at spawn time; identifies the process across PID reuse. */
  startTime: string;
  command: string;
}

// ---------------------------------------------------------------------------
// Temp directory

/** Creates the testbed's temp directory (mkdtemp under os.tmpdir()) and records the owning process. */
export function createTestbedDir(prefix: string = TESTBED_DIR_PREFIX): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  // Traversable for the `postgres` OS user (the data directory below it is postgres-owned).
  chmodSync(dir, 0o711);
  writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, startTime: procStartTime(process.pid) }));
  writeFileSync(path.join(dir, REGISTRY_FILE), '');
  ownedDirs.add(dir);
  installExitHandlers();
  return dir;
}

export function pidFilePath(dir: string): string {
  return path.join(dir, REGISTRY_FILE);
}

/** Stops every process recorded in `dir`'s registry, then removes `dir`. */
export async function destroyTestbedDir(dir: string): Promise<void> {
  await stopRegistered(pidFilePath(dir));
  removeDir(dir);
  ownedDirs.delete(dir);
}

function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch {
    // Nothing left to do: a leftover directory is harmless and reapStaleTestbeds() will retry.
  }
}

/**
 * Cleans up after testbeds whose owning process died without teardown (e.g. SIGKILL):
 * stops their registered processes and removes their directories.
 */
export async function reapStaleTestbeds(): Promise<string[]> {
  const reaped: string[] = [];
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(TESTBED_DIR_PREFIX));
  } catch {
    return reaped;
  }
  for (const name of names) {
    const dir = path.join(tmpdir(), name);
    let owner: { pid: number; startTime: string } | undefined;
    try {
      owner = JSON.parse(readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as { pid: number; startTime: string };
    } catch {
      continue; // not ours or not initialised: leave it alone
    }
    if (owner && isSameProcess(owner.pid, owner.startTime)) continue; // owner still running
    await stopRegistered(pidFilePath(dir));
    removeDir(dir);
    reaped.push(dir);
  }
  return reaped;
}

// ---------------------------------------------------------------------------
// /proc helpers

/** Start time (clock ticks since boot) of a live process, or undefined. */
export function procStartTime(pid: number): string | undefined {
  const stat = procStat(pid);
  return stat?.startTime;
}

interface ProcStat { state: string; ppid: number; pgrp: number; startTime: string }

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), rest[1] field 4 (ppid), rest[2] field 5 (pgrp), rest[19] field 22 (starttime).
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, ppid, pgrp, startTime };
}

/** True when `pid` is alive (zombies count as dead) and is the process that started at `startTime`. */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  const stat = procStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** True when a process with this PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

function allProcesses(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const stat = procStat(Number(e));
    if (stat && stat.state !== 'Z' && stat.state !== 'X') out.set(Number(e), stat);
  }
  return out;
}

/** PIDs of live (non-zombie) processes whose process group is `pgid`. */
export function processGroupMembers(pgid: number): number[] {
  return [...allProcesses()].filter(([, st]) => st.pgrp === pgid).map(([pid]) => pid);
}

/** A process identified across PID reuse. */
export interface ProcId {
  pid: number;
  startTime: string;
}

/**
 * Every live process that belongs to `root`'s tree: its descendants (by parent PID;
 * postgres children call setsid(), so they leave the group) and the members of
 * its process group. `root` itself is not included.
 */
export function processTree(root: number): ProcId[] {
  const procs = allProcesses();
  const children = new Map<number, number[]>();
  for (const [pid, st] of procs) {
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const found = new Set<number>();
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const c of children.get(p) ?? []) {
      if (!found.has(c)) {
        found.add(c);
        queue.push(c);
      }
    }
  }
  for (const [pid, st] of procs) if (st.pgrp === root) found.add(pid);
  found.delete(root);
  return [...found].map((pid) => ({ pid, startTime: procs.get(pid)!.startTime }));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: already gone
  }
}

// ---------------------------------------------------------------------------
// Registry

function appendRegistry(dir: string, entry: RegistryEntry): void {
  appendFileSync(pidFilePath(dir), JSON.stringify(entry) + '\n');
}

export function readRegistry(pidFile: string): RegistryEntry[] {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch {
    return [];
  }
  const out: RegistryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as RegistryEntry);
    } catch {
      // torn line: ignore
    }
  }
  return out;
}

/** Stops every registered process (by PID, start time checked) that is still running. */
export async function stopRegistered(pidFile: string, graceMs = 5000): Promise<void> {
  const entries = readRegistry(pidFile);
  await Promise.all(entries.map((e) => stopPid(e.pid, e.startTime, sigtermFor(e.name), graceMs)));
}

function sigtermFor(name: string): NodeJS.Signals {
  // postgres: SIGTERM is "smart" shutdown (waits for clients); SIGINT is "fast".
  return name === 'postgres' ? 'SIGINT' : 'SIGTERM';
}

/**
 * Stops a service by its leader's PID: `sig` to the leader, wait up to graceMs, then SIGKILL;
 * processes of its tree (see processTree) that outlive it are SIGKILLed by PID.
 */
export async function stopPid(pid: number, startTime: string | undefined, sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  const leaderAlive = (): boolean => isSameProcess(pid, startTime);
  const tree = leaderAlive() ? processTree(pid) : [];
  if (leaderAlive()) {
    signal(pid, sig);
    const deadline = Date.now() + graceMs;
    while (leaderAlive() && Date.now() < deadline) await sleep(25);
    if (leaderAlive()) signal(pid, 'SIGKILL');
    const killDeadline = Date.now() + 2000;
    while (leaderAlive() && Date.now() < killDeadline) await sleep(25);
  }
  await killStragglers([...tree, ...processTree(pid)]);
}

/** Waits briefly for these processes to exit on their own, then SIGKILLs what is left, by PID. */
async function killStragglers(procs: ProcId[]): Promise<void> {
  const left = (): ProcId[] => procs.filter((p) => isSameProcess(p.pid, p.startTime));
  const deadline = Date.now() + 1000;
  while (left().length > 0 && Date.now() < deadline) await sleep(25);
  for (const p of left()) signal(p.pid, 'SIGKILL');
  const killDeadline = Date.now() + 1000;
  while (left().length > 0 && Date.now() < killDeadline) await sleep(25);
}

// ---------------------------------------------------------------------------
// Spawning

export interface ManagedProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  logPath: string;
  /** Resolves when the process has exited (and been reaped). */
  exited: Promise<void>;
  /** Text of the log file (stdout+stderr). */
  log(): Promise<string>;
  /** SIGTERM (or the configured signal), SIGKILL after the grace period; waits for the whole group. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Testbed directory: the registry lives here. */
  dir: string;
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logPath: string;
  uid?: number;
  gid?: number;
  stopSignal?: NodeJS.Signals;
  graceMs?: number;
}

const liveChildren = new Set<ManagedProcess>();
/** Short-lived helpers started by run() (initdb, openssl, nsupdate). */
const transientChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();

/** Spawns a detached child (own process group), logs to a file and registers its PID. */
export function spawnManaged(opts: SpawnOptions): ManagedProcess {
  const fd = openSync(opts.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd ?? opts.dir,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
      uid: opts.uid,
      gid: opts.gid,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error(`${opts.name}: spawn of ${opts.command} failed`);
  }
  const startTime = procStartTime(pid) ?? '';
  appendRegistry(opts.dir, { pid, name: opts.name, startTime, command: opts.command });
  installExitHandlers();

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.on('error', () => { /* reported through exit / readiness checks */ });

  const stopSignal = opts.stopSignal ?? 'SIGTERM';
  const graceMs = opts.graceMs ?? 5000;
  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    name: opts.name,
    pid,
    child,
    logPath: opts.logPath,
    exited,
    log: () => readFile(opts.logPath, 'utf8').catch(() => ''),
    stop() {
      stopping ??= (async () => {
        const running = (): boolean => child.exitCode === null && child.signalCode === null;
        const tree = running() ? processTree(pid) : [];
        if (running()) signal(pid, stopSignal);
        if (running()) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
          const r = await Promise.race([exited.then(() => 'exited' as const), timeout]);
          clearTimeout(timer);
          if (r === 'timeout') {
            signal(pid, 'SIGKILL');
            await exited;
          }
        }
        // Orphaned descendants (e.g. postgres backends) must not outlive the leader.
        await killStragglers([...tree, ...processTree(pid)]);
        liveChildren.delete(managed);
      })();
      return stopping;
    },
  };
  liveChildren.add(managed);
  void exited.then(() => liveChildren.delete(managed));
  return managed;
}

let handlersInstalled = false;

/** Synchronous last-resort cleanup: SIGKILL every child still running, remove owned dirs. */
export function killAllSync(): void {
  for (const m of liveChildren) {
    if (m.child.exitCode === null && m.child.signalCode === null) {
      // Still our unreaped child, so the PID (= PGID) cannot have been reused.
      const tree = processTree(m.pid);
      signal(-m.pid, 'SIGKILL');
      for (const p of tree) if (isSameProcess(p.pid, p.startTime)) signal(p.pid, 'SIGKILL');
    }
  }
  liveChildren.clear();
  for (const c of transientChildren) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) signal(c.pid, 'SIGKILL');
  }
  transientChildren.clear();
  for (const dir of ownedDirs) removeDir(dir);
  ownedDirs.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' also fires after an uncaught exception / unhandled rejection.
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllSync();
      if (process.listenerCount(sig) === 1) {
        // We were the only listener: restore the default action (terminate).
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------
// Utilities

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const EXTRA_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Finds an executable on PATH (plus the sbin directories), or throws `hint` as one sentence. */
export function requireBinary(name: string, hint: string, extraDirs: string[] = []): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_PATH, ...extraDirs];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} not found: ${hint}`);
}

const handedOut = new Set<number>();

/**
 * An ephemeral loopback port that is currently free for TCP (and UDP when `udp` is set).
 * Ports handed out by this process are never returned twice.
 */
export async function freePort(udp = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (!port || handedOut.has(port)) continue;
    if (udp) {
      const ok = await new Promise<boolean>((resolve) => {
        const sock = createSocket('udp4');
        sock.once('error', () => { sock.close(); resolve(false); });
        sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
      });
      if (!ok) continue;
    }
    handedOut.add(port);
    return port;
  }
  throw new Error('could not find a free loopback port');
}

/** Polls `check` until it returns true; fails early if `proc` exits, or after timeoutMs. */
export async function waitUntil(what: string, check: () => Promise<boolean>, opts: { timeoutMs: number; proc?: ManagedProcess; intervalMs?: number; failOn?: RegExp }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (opts.proc && opts.failOn) {
      // Some daemons (named) log a fatal-for-us problem and keep running.
      const log = await opts.proc.log();
      if (opts.failOn.test(log)) throw new StartupError(`${what}: start-up problem in ${opts.proc.logPath}:\n${tail(log)}`, log);
    }
    if (opts.proc && (opts.proc.child.exitCode !== null || opts.proc.child.signalCode !== null)) {
      const log = await opts.proc.log();
      throw new StartupError(`${what}: ${opts.proc.name} exited during start-up (code ${String(opts.proc.child.exitCode)}, signal ${String(opts.proc.child.signalCode)}); log ${opts.proc.logPath}:\n${tail(log)}`, log);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const log = opts.proc ? await opts.proc.log() : '';
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new StartupError(`${what}: not ready after ${opts.timeoutMs} ms${cause}${opts.proc ? `; log ${opts.proc.logPath}:\n${tail(log)}` : ''}`, log);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

export class StartupError extends Error {
  constructor(message: string, readonly log: string) {
    super(message);
    this.name = 'StartupError';
  }
  /** True when the failure looks like a lost race for the port. */
  get portInUse(): boolean {
    return /address already in use|address in use|EADDRINUSE|could not bind/i.test(this.log);
  }
}

/** The last `lines` lines of a log's text. */
export function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs a short-lived command to completion; rejects with its output on failure. */
export function run(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number; input?: string; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, uid: opts.uid, gid: opts.gid, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    // initdb recreates missing parent directories: it must not outlive a torn-down testbed.
    transientChildren.add(child);
    installExitHandlers();
    child.once('exit', () => transientChildren.delete(child));
    child.once('error', (err) => { clearTimeout(timer); transientChildren.delete(child); reject(err); });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${path.basename(command)} ${args.join(' ')} failed (${code ?? sig}): ${stderr.trim() || stdout.trim()}`));
    });
    // A command that exits without reading its input closes the pipe: that EPIPE is not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export function fileExists(p: string): boolean {
  return existsSync(p);
}
