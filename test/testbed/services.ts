// The integration testbed's services: BIND9 (authoritative, RFC 2136 with TSIG),
// Pebble (ACME CA), PostgreSQL and moto_server, each on ephemeral loopback ports,
// all files under one temp directory. Usable from vitest globalSetup and from
// standalone scripts (see test/testbed/cli.ts).
//
//   const dir = createTestbedDir();
//   try {
//     const bind = await startBind({ dir, zones: ['a.test'] });
//     ...
//   } finally {
//     await destroyTestbedDir(dir);   // stops every registered PID, removes dir
//   }
//
// If the process dies before the finally runs (uncaught exception,
// process.exit, SIGINT/SIGTERM/SIGHUP), an exit handler SIGKILLs the process
// groups and removes the directory. After a SIGKILL of the owner,
// reapStaleTestbeds() cleans up using the PID registry.
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, constants as fsConstants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestbedInfo } from './context.js';
import { dnsQuery } from './dns.js';
import { createDatabase as createDatabaseAt, resetMoto } from './helpers.js';
import {
  createTestbedDir,
  destroyTestbedDir,
  freePort,
  pidFilePath,
  requireBinary,
  run,
  spawnManaged,
  StartupError,
  stopRegistered,
  waitUntil,
  type ManagedProcess,
} from './process.js';

export { createTestbedDir, destroyTestbedDir, pidFilePath, reapStaleTestbeds } from './process.js';
export { createDatabase, resetMoto } from './helpers.js';

const DEFAULT_TIMEOUT_MS = 30_000;

interface Stoppable {
  pid: number;
  stop(): Promise<void>;
}

/** Retries a start-up that lost the race for its (pre-checked) ephemeral port. */
async function withPortRetry<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      if (i >= attempts || !(err instanceof StartupError) || !err.portInUse) throw err;
    }
  }
}

async function failStart(proc: ManagedProcess, err: unknown): Promise<never> {
  await proc.stop();
  throw err;
}

// ---------------------------------------------------------------------------
// BIND9

export interface BindService extends Stoppable {
  host: '127.0.0.1';
  port: number;
  tsigKeyName: string;
  tsigSecret: string;
  tsigAlgorithm: 'hmac-sha256';
  zones: string[];
  /** This instance's directory (named.conf, zones/, named.log). */
  dir: string;
}

export interface StartBindOptions {
  /** Testbed directory (from createTestbedDir). */
  dir: string;
  zones: string[];
  tsigKeyName?: string;
  /** Port to try first (tests of the collision retry); default: a free ephemeral port. */
  port?: number;
  timeoutMs?: number;
  /** Extra zone-file lines per zone, e.g. `{ 'a.test': ['ns1 IN AAAA ::1'] }`. */
  records?: Record<string, string[]>;
}

function zoneFile(zone: string, extra: string[] = []): string {
  return [
    '$TTL 60',
    `@   IN SOA ns1.${zone}. hostmaster.${zone}. ( 1 3600 600 86400 60 )`,
    `    IN NS  ns1.${zone}.`,
    'ns1 IN A   127.0.0.1',
    '@   IN A   127.0.0.1',
    '*   IN A   127.0.0.1',
    ...extra,
    '',
  ].join('\n');
}

/** Authoritative BIND9 on 127.0.0.1:<ephemeral> (UDP and TCP), one primary zone per entry of `zones`. */
export async function startBind(opts: StartBindOptions): Promise<BindService> {
  const named = requireBinary('named', 'apt-get install -y bind9 bind9-dnsutils');
  if (opts.zones.length === 0) throw new Error('startBind: at least one zone is required');
  for (const z of opts.zones) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(z)) throw new Error(`startBind: invalid zone name ${JSON.stringify(z)}`);
  }
  const keyName = opts.tsigKeyName ?? 'acme-key';
  const secret = randomBytes(32).toString('base64');
  const sub = mkdtempSync(path.join(opts.dir, 'bind-'));
  mkdirSync(path.join(sub, 'zones'));
  writeFileSync(path.join(sub, 'tsig.key'), `key "${keyName}" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`, { mode: 0o600 });
  for (const z of opts.zones) writeFileSync(path.join(sub, 'zones', `${z}.db`), zoneFile(z, opts.records?.[z]));

  let preferred = opts.port;
  return withPortRetry(async () => {
    const port = preferred ?? (await freePort(true));
    preferred = undefined;
    const conf = [
      `include "${sub}/tsig.key";`,
      'options {',
      `\tdirectory "${sub}";`,
      `\tpid-file "${sub}/named.pid";`,
      `\tsession-keyfile "${sub}/session.key";`,
      `\tmanaged-keys-directory "${sub}";`,
      `\tdump-file "${sub}/named_dump.db";`,
      `\tstatistics-file "${sub}/named.stats";`,
      `\tlisten-on port ${port} { 127.0.0.1; };`,
      '\tlisten-on-v6 { none; };',
      '\trecursion no;',
      '\tdnssec-validation no;',
      '\tnotify no;',
      '\tallow-transfer { none; };',
      // Without SO_REUSEPORT a port collision is an error ("address in use") instead of
      // two named processes silently sharing the port.
      '\treuseport no;',
      '};',
      'controls { };',
      ...opts.zones.map((z) => `zone "${z}" { type primary; file "${sub}/zones/${z}.db"; update-policy { grant ${keyName} zonesub TXT; grant ${keyName} zonesub CNAME; }; };`),
      '',
    ].join('\n');
    writeFileSync(path.join(sub, 'named.conf'), conf);
    // Journals of a previous (stopped) attempt would be replayed: remove them while named is down.
    for (const f of readdirSync(path.join(sub, 'zones'))) if (f.endsWith('.jnl')) rmSync(path.join(sub, 'zones', f), { force: true });

    const proc = spawnManaged({
      dir: opts.dir,
      name: 'named',
      command: named,
      args: ['-g', '-4', '-c', path.join(sub, 'named.conf')],
      cwd: sub,
      logPath: path.join(sub, `named-${port}.log`),
    });
    try {
      await waitUntil(`named on 127.0.0.1:${port}`, async () => {
        const answers = await Promise.all(opts.zones.map((z) => dnsQuery('127.0.0.1', port, z, 'SOA', 500)));
        return answers.every((a) => a.rcode === 'NOERROR' && a.answers.some((r) => r.type === 'SOA'));
      }, { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, proc, failOn: /address in use|could not listen on|loading configuration: |exiting \(due to fatal error\)/ });
    } catch (err) {
      return failStart(proc, err);
    }
    return {
      host: '127.0.0.1' as const,
      port,
      tsigKeyName: keyName,
      tsigSecret: secret,
      tsigAlgorithm: 'hmac-sha256' as const,
      zones: [...opts.zones],
      dir: sub,
      pid: proc.pid,
      stop: () => proc.stop(),
    };
  });
}

// ---------------------------------------------------------------------------
// Pebble

/**
 * Let's Encrypt's three profiles as Pebble 2.7.0 takes them (config `profiles`,
 * /work/shared/pebble/README.md): lifetimes from
 * https://letsencrypt.org/docs/profiles/ (classic 90 days, tlsserver 45 days,
 * shortlived 160 hours). `classic` is Let's Encrypt's default profile, so it is
 * also the one Pebble uses for orders without `profile`.
 */
export const PEBBLE_PROFILES = {
  classic: { description: '90 days', validityPeriod: 90 * 86_400 },
  tlsserver: { description: '45 days', validityPeriod: 45 * 86_400 },
  shortlived: { description: '160 hours', validityPeriod: 160 * 3_600 },
} as const;

export interface PebbleBinary {
  path: string;
  version: '2.7.0' | '2.4.0';
  /** ARI (renewalInfo) and profiles: only Pebble 2.7.0 has them. */
  ariAndProfiles: boolean;
}

/** The repository root (this file is test/testbed/services.ts). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where CI puts Pebble 2.7.0: `../shared/pebble/pebble`, beside the checkout. */
export const SHARED_PEBBLE = path.resolve(REPO_ROOT, '..', 'shared', 'pebble', 'pebble');

/**
 * Pebble 2.7.0 from ../shared when it is there, else Debian's 2.4.0 (no ARI,
 * no profiles): the tests that need those are then skipped (needsPebble27 in
 * helpers.ts). `TESTBED_PEBBLE=debian` picks the fallback on purpose.
 */
export function findPebble(): PebbleBinary {
  // TESTBED_PEBBLE=debian: run the fallback on purpose (to see what CI without ../shared does).
  const forceDebian = process.env.TESTBED_PEBBLE === 'debian';
  try {
    if (forceDebian) throw new Error('fallback requested');
    accessSync(SHARED_PEBBLE, fsConstants.X_OK);
    return { path: SHARED_PEBBLE, version: '2.7.0', ariAndProfiles: true };
  } catch {
    if (process.env.TESTBED_REQUIRE_PEBBLE27 === '1') {
      throw new Error(`Pebble 2.7.0 is required (TESTBED_REQUIRE_PEBBLE27=1, as in .ci/run) but ${SHARED_PEBBLE} is missing or not executable`);
    }
    return { path: requireBinary('pebble', `apt-get install -y pebble (or put Pebble 2.7.0 at ${SHARED_PEBBLE})`), version: '2.4.0', ariAndProfiles: false };
  }
}

export interface PebbleService extends Stoppable {
  /** Which Pebble runs, and whether it has ARI and profiles. */
  binary: PebbleBinary;
  directoryUrl: string;
  managementUrl: string;
  /** CA that signed Pebble's HTTPS certificate (shared by every Pebble in the testbed dir). */
  caCertPath: string;
  /** Management endpoint serving the PEM root that issued certificates chain to. */
  rootsUrl: string;
  dnsServer: string;
  port: number;
  managementPort: number;
  /** Pebble's own log (every request: `POST /order-plz -> calling handler()`, `Added order ...`). */
  logPath: string;
}

export interface StartPebbleOptions {
  dir: string;
  /** host:port of the DNS server Pebble validates DNS-01 against. */
  dnsServer: string;
  /** Extra environment, overriding the defaults (PEBBLE_VA_NOSLEEP=1, PEBBLE_AUTHZREUSE=0, PEBBLE_WFE_NONCEREJECT=0). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Default: findPebble(). */
  binary?: PebbleBinary;
  /**
   * External Account Binding: `externalAccountBindingRequired` and
   * `externalAccountMACKeys` (key id -> MAC key, base64url without padding: Pebble
   * decodes it with base64.RawURLEncoding, db/memorystore.go AddExternalAccountKeyByID;
   * HS256/384/512, wfe/wfe.go verifyEAB, Pebble v2.7.0).
   */
  eab?: { required: boolean; macKeys: Record<string, string> };
}

export interface PebbleTls {
  caCertPath: string;
  certPath: string;
  keyPath: string;
}

const tlsByDir = new Map<string, Promise<PebbleTls>>();

/** Creates (once per testbed dir) a small CA and a server certificate for 127.0.0.1/localhost. */
export function ensurePebbleTls(dir: string): Promise<PebbleTls> {
  let p = tlsByDir.get(dir);
  if (!p) {
    p = createPebbleTls(dir);
    tlsByDir.set(dir, p);
    p.catch(() => tlsByDir.delete(dir));
  }
  return p;
}

async function createPebbleTls(dir: string): Promise<PebbleTls> {
  const final = path.join(dir, 'pebble-tls');
  const result: PebbleTls = {
    caCertPath: path.join(final, 'ca.pem'),
    certPath: path.join(final, 'cert.pem'),
    keyPath: path.join(final, 'key.pem'),
  };
  if (existsSync(result.keyPath)) return result;
  const openssl = requireBinary('openssl', 'apt-get install -y openssl');
  // Build in a scratch directory and rename: safe if another process does the same.
  const work = mkdtempSync(path.join(dir, 'pebble-tls-tmp-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run(openssl, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30',
    '-subj', '/CN=AutoTLS testbed Pebble HTTPS CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash'], { cwd: work });
  await run(openssl, ['req', ...ec, '-keyout', 'key.pem', '-out', 'server.csr', '-subj', '/CN=localhost'], { cwd: work });
  writeFileSync(path.join(work, 'server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'authorityKeyIdentifier=keyid',
    '',
  ].join('\n'));
  await run(openssl, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '30', '-extfile', 'server.ext', '-out', 'cert.pem'], { cwd: work });
  try {
    renameSync(work, final);
  } catch {
    rmSync(work, { recursive: true, force: true }); // someone else won the race
  }
  return result;
}

/** GET over HTTPS trusting only `ca`; resolves with status and body. */
export function httpsGet(url: string, ca: string | Buffer, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'GET', ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Pebble with ephemeral ACME and management ports, validating DNS-01 against `dnsServer`. */
export async function startPebble(opts: StartPebbleOptions): Promise<PebbleService> {
  const binary = opts.binary ?? findPebble();
  const pebble = binary.path;
  const tls = await ensurePebbleTls(opts.dir);
  const ca = readFileSync(tls.caCertPath);
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Never inherit switches that would weaken validation.
  for (const k of Object.keys(env)) if (k.startsWith('PEBBLE_')) delete env[k];
  Object.assign(env, { PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0' }, opts.env ?? {});

  return withPortRetry(async () => {
    const port = await freePort();
    const managementPort = await freePort();
    const sub = mkdtempSync(path.join(opts.dir, `pebble-${port}-`));
    const configPath = path.join(sub, 'pebble-config.json');
    writeFileSync(configPath, JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: tls.certPath,
        privateKey: tls.keyPath,
        httpPort: 5002,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: opts.eab?.required ?? false,
        ...(opts.eab ? { externalAccountMACKeys: opts.eab.macKeys } : {}),
        ...(binary.ariAndProfiles ? { profiles: PEBBLE_PROFILES } : {}),
      },
    }, null, 2));
    const proc = spawnManaged({
      dir: opts.dir,
      name: 'pebble',
      command: pebble,
      args: ['-config', configPath, '-dnsserver', opts.dnsServer],
      cwd: sub,
      env,
      logPath: path.join(sub, 'pebble.log'),
    });
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    const managementUrl = `https://127.0.0.1:${managementPort}`;
    try {
      await waitUntil(`pebble on 127.0.0.1:${port}`, async () => {
        const [dirRes, mgmt] = await Promise.all([httpsGet(directoryUrl, ca), httpsGet(`${managementUrl}/roots/0`, ca)]);
        return dirRes.status === 200 && mgmt.status === 200;
      }, { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, proc });
    } catch (err) {
      return failStart(proc, err);
    }
    return {
      binary,
      directoryUrl,
      managementUrl,
      caCertPath: tls.caCertPath,
      rootsUrl: `${managementUrl}/roots/0`,
      dnsServer: opts.dnsServer,
      port,
      managementPort,
      logPath: path.join(sub, 'pebble.log'),
      pid: proc.pid,
      stop: () => proc.stop(),
    };
  });
}

// ---------------------------------------------------------------------------
// PostgreSQL

export interface PostgresService extends Stoppable {
  host: '127.0.0.1';
  port: number;
  adminUrl: string;
  dataDir: string;
  /** Drops (if present) and creates database `name`; returns its URL. */
  createDatabase(name: string): Promise<string>;
}

export interface StartPostgresOptions {
  dir: string;
  timeoutMs?: number;
}

/** Directory of initdb/postgres: newest /usr/lib/postgresql/<version>/bin, else PATH. */
function postgresBinDir(): string {
  const hint = 'apt-get install -y postgresql';
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')));
  } catch {
    // fall through to PATH
  }
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  const newest = versions[0];
  if (newest !== undefined) return path.join(root, newest, 'bin');
  return path.dirname(requireBinary('initdb', hint));
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined; // run as ourselves
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new Error('postgres OS user not found: apt-get install -y postgresql (it creates the user; initdb refuses to run as root)');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** A throw-away cluster (initdb, trust auth, superuser `postgres`) on 127.0.0.1:<ephemeral>. */
export async function startPostgres(opts: StartPostgresOptions): Promise<PostgresService> {
  const bin = postgresBinDir();
  const user = postgresUser();
  const sub = mkdtempSync(path.join(opts.dir, 'postgres-'));
  const dataDir = path.join(sub, 'data');
  if (user) chownSync(sub, user.uid, user.gid);
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  for (const k of Object.keys(env)) if (k.startsWith('PG')) delete env[k];
  await run(path.join(bin, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], {
    cwd: sub, env, uid: user?.uid, gid: user?.gid, timeoutMs: 120_000,
  });

  return withPortRetry(async () => {
    const port = await freePort();
    // postgres directly (not pg_ctl, which would daemonise it): we keep the postmaster as our child.
    const proc = spawnManaged({
      dir: opts.dir,
      name: 'postgres',
      command: path.join(bin, 'postgres'),
      args: ['-D', dataDir, '-p', String(port), '-k', sub,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'max_connections=300', '-c', 'shared_buffers=64MB'],
      cwd: sub,
      env,
      uid: user?.uid,
      gid: user?.gid,
      stopSignal: 'SIGINT', // fast shutdown (SIGTERM would wait for clients to disconnect)
      logPath: path.join(sub, `postgres-${port}.log`),
    });
    const adminUrl = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    try {
      await waitUntil(`postgres on 127.0.0.1:${port}`, async () => {
        const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 1000 });
        client.on('error', () => { /* ignore: retried */ });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      }, { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, proc, intervalMs: 100 });
    } catch (err) {
      return failStart(proc, err);
    }
    return {
      host: '127.0.0.1' as const,
      port,
      adminUrl,
      dataDir,
      pid: proc.pid,
      createDatabase: (name: string) => createDatabaseAt(adminUrl, name),
      stop: () => proc.stop(),
    };
  });
}

// ---------------------------------------------------------------------------
// moto_server

export interface MotoService extends Stoppable {
  endpoint: string;
  port: number;
  /** POST /moto-api/reset: forget every resource. */
  reset(): Promise<void>;
}

export interface StartMotoOptions {
  /** Testbed directory; when omitted, moto gets a temp directory of its own, removed by stop(). */
  dir?: string;
  timeoutMs?: number;
}

/** moto_server (AWS mock: Route53, Secrets Manager, ...) on http://127.0.0.1:<ephemeral>. */
export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoService> {
  const moto = requireBinary('moto_server', "pip install 'moto[server]' (it must be on PATH)");
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? createTestbedDir();
  try {
    const svc = await withPortRetry(async () => {
      const port = await freePort();
      const sub = mkdtempSync(path.join(dir, 'moto-'));
      const proc = spawnManaged({
        dir,
        name: 'moto_server',
        command: moto,
        args: ['-H', '127.0.0.1', '-p', String(port)],
        cwd: sub,
        env: { ...process.env, PYTHONUNBUFFERED: '1' },
        logPath: path.join(sub, 'moto.log'),
      });
      const endpoint = `http://127.0.0.1:${port}`;
      try {
        await waitUntil(`moto_server on ${endpoint}`, async () => {
          const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          return res.status > 0;
        }, { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, proc, intervalMs: 100 });
      } catch (err) {
        return failStart(proc, err);
      }
      return { endpoint, port, proc };
    });
    return {
      endpoint: svc.endpoint,
      port: svc.port,
      pid: svc.proc.pid,
      reset: () => resetMoto(svc.endpoint),
      stop: async () => {
        await svc.proc.stop();
        if (ownDir) await destroyTestbedDir(dir);
      },
    };
  } catch (err) {
    if (ownDir) await destroyTestbedDir(dir);
    throw err;
  }
}

// ---------------------------------------------------------------------------
// The whole testbed

export interface StartTestbedOptions {
  /** Zones served by BIND; default z01.test ... z60.test plus validation.test. */
  zones?: string[];
  /** Existing testbed dir; default: a fresh createTestbedDir(). */
  dir?: string;
}

export interface Testbed {
  info: TestbedInfo;
  bind: BindService;
  pebble: PebbleService;
  postgres: PostgresService;
  moto: MotoService;
  /** Per-service start-up durations in ms (each measured from the common start). */
  timings: Record<'bind' | 'pebble' | 'postgres' | 'moto' | 'total', number>;
  /** Stops every process (by PID) and removes the directory. */
  stop(): Promise<void>;
}

export function defaultZones(): string[] {
  return [...Array.from({ length: 60 }, (_, i) => `z${String(i + 1).padStart(2, '0')}.test`), 'validation.test'];
}

/** Starts BIND, Pebble (pointed at BIND), PostgreSQL and moto in parallel. */
export async function startTestbed(opts: StartTestbedOptions = {}): Promise<Testbed> {
  const t0 = Date.now();
  const dir = opts.dir ?? createTestbedDir();
  const timings: Partial<Testbed['timings']> = {};
  const timed = <T>(name: keyof Testbed['timings'], p: Promise<T>): Promise<T> => p.then((v) => { timings[name] = Date.now() - t0; return v; });
  try {
    void ensurePebbleTls(dir).catch(() => undefined); // overlaps openssl with BIND's start-up
    const bindP = timed('bind', startBind({ dir, zones: opts.zones ?? defaultZones() }));
    const pebbleP = timed('pebble', bindP.then((b) => startPebble({ dir, dnsServer: `${b.host}:${b.port}` })));
    const postgresP = timed('postgres', startPostgres({ dir }));
    const motoP = timed('moto', startMoto({ dir }));
    const settled = await Promise.allSettled([bindP, pebbleP, postgresP, motoP]);
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed.length > 0) {
      const reasons: unknown[] = failed.map((f) => f.reason);
      throw new AggregateError(reasons, `testbed start-up failed: ${reasons.map((r) => (r instanceof Error ? r.message : String(r))).join('; ')}`);
    }
    const [bind, pebble, postgres, moto] = await Promise.all([bindP, pebbleP, postgresP, motoP]);

    const caBundlePath = path.join(dir, 'ca-bundle.pem');
    writeFileSync(caBundlePath, caBundle(pebble.caCertPath));
    timings.total = Date.now() - t0;

    const info: TestbedInfo = {
      dir,
      pidFile: pidFilePath(dir),
      caBundlePath,
      startupMs: timings.total,
      dns: { host: bind.host, port: bind.port, tsigKeyName: bind.tsigKeyName, tsigSecret: bind.tsigSecret, tsigAlgorithm: bind.tsigAlgorithm, zones: bind.zones },
      pebble: {
        directoryUrl: pebble.directoryUrl,
        managementUrl: pebble.managementUrl,
        caCertPath: pebble.caCertPath,
        rootsUrl: pebble.rootsUrl,
        dnsServer: pebble.dnsServer,
        binaryPath: pebble.binary.path,
        version: pebble.binary.version,
        ariAndProfiles: pebble.binary.ariAndProfiles,
      },
      postgres: { host: postgres.host, port: postgres.port, adminUrl: postgres.adminUrl },
      moto: { endpoint: moto.endpoint },
    };
    return {
      info,
      bind,
      pebble,
      postgres,
      moto,
      timings: timings as Testbed['timings'],
      stop: () => destroyTestbedDir(dir),
    };
  } catch (err) {
    if (opts.dir === undefined) await destroyTestbedDir(dir);
    else await stopRegistered(pidFilePath(dir));
    throw err;
  }
}

/** Pebble's HTTPS CA, appended to whatever NODE_EXTRA_CA_CERTS already pointed at. */
function caBundle(pebbleCa: string): string {
  const parts: string[] = [];
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  if (existing && existsSync(existing)) {
    const text = readFileSync(existing, 'utf8');
    // Do not nest our own bundle from a previous run.
    if (!existing.includes(`${path.sep}autotls-testbed-`)) parts.push(text.trimEnd());
  }
  parts.push(readFileSync(pebbleCa, 'utf8').trimEnd());
  return parts.join('\n') + '\n';
}
