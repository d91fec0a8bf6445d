// A real Knot DNS for the rfc2136 plugin's second server (issue 17 item 2): Debian's `knot`
// (knotd 3.2 on Debian 12), authoritative on 127.0.0.1:<ephemeral> (UDP and TCP), in the
// foreground (no -d), with its configuration, zone files, journal/timer/KASP databases,
// PID file and control socket in a sub-directory of the testbed directory. Updates are
// allowed only by a TSIG key (hmac-sha256) through Knot's `acl:` (action: update), per zone:
//
//   const knot = await startKnot({ dir, zones: [
//     { name: 'k1.test', update: 'txt' },                          // TXT anywhere in the zone
//     { name: 'k2.test', update: 'none' },                         // served, no update ACL
//     { name: 'k3.test', update: { owners: ['_acme-challenge'] } },  // TXT only at these names
//   ] });
//   knot.port, knot.tsigSecret, await knot.stop()
//
// knotd runs as the user that starts it (`server: user` defaults to root:root, and
// without it Knot does not change user), so root on CI is fine. Its PID is registered
// like every other testbed service (test/testbed/process.ts), so destroyTestbedDir() and
// the exit handlers stop it.
//
// Configuration reference: knot.conf(5) of Knot 3.2 (`man knot.conf`): server, control,
// database, key, acl (update-type, update-owner, update-owner-match, update-owner-name),
// template and zone sections.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';
import { dnsQuery } from './dns.js';
import { testsMarked } from './marked-tests.js';
import { freePort, requireBinary, spawnManaged, StartupError, waitUntil } from './process.js';

export const KNOT_INSTALL_HINT = 'apt-get install -y knot';

export interface KnotZone {
  name: string;
  /**
   * Who may update the zone:
   * - `'txt'`: the TSIG key, TXT records at any name (`update-type: TXT`);
   * - `'none'`: nobody (the zone has no update ACL, so Knot refuses every update);
   * - `{ owners }`: the TSIG key, TXT records only at exactly these names
   *   (`update-owner: name`, `update-owner-match: equal`; names without a final dot are
   *   relative to the zone, as Knot reads `update-owner-name`).
   */
  update: 'txt' | 'none' | { owners: string[] };
}

export interface KnotService {
  host: '127.0.0.1';
  /** Same port on UDP and TCP. */
  port: number;
  /** `127.0.0.1:<port>`, e.g. for Pebble's -dnsserver or RFC2136_NAMESERVER. */
  address: string;
  tsigKeyName: string;
  /** Base64, as `keymgr -t` or `tsig-keygen` print it. */
  tsigSecret: string;
  tsigAlgorithm: 'hmac-sha256';
  zones: KnotZone[];
  /** This instance's directory (knot.conf, zones/, db/, knotd-<port>.log). */
  dir: string;
  pid: number;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartKnotOptions {
  /** Testbed directory (from createTestbedDir). */
  dir: string;
  zones: KnotZone[];
  tsigKeyName?: string;
  timeoutMs?: number;
}

/** knotd's path, or undefined when Knot is not installed (or `TESTBED_KNOT=off` pretends so, to see the skip). */
export function findKnotd(): string | undefined {
  if (process.env.TESTBED_KNOT === 'off') return undefined;
  try {
    return requireBinary('knotd', KNOT_INSTALL_HINT);
  } catch {
    return undefined;
  }
}

/** `TESTBED_REQUIRE_KNOT=1` (CI): a missing knotd fails the Knot tests instead of skipping them (and wins over TESTBED_KNOT=off). */
export function knotRequired(): boolean {
  return process.env.TESTBED_REQUIRE_KNOT === '1';
}

/** Whether the Knot tests run: knotd is installed, or it is required (and they then fail without it). */
export function knotTestsRun(): boolean {
  return knotRequired() || findKnotd() !== undefined;
}

/**
 * Tests that need a real Knot DNS. Without knotd (and without TESTBED_REQUIRE_KNOT=1)
 * they are skipped, and global setup names them (it finds them by the `needsKnot.describe(` calls).
 */
export const needsKnot = {
  describe(name: string, body: () => void): void {
    describe.skipIf(!knotTestsRun())(name, body);
  },
};

/** `file: every test in "title"` of every needsKnot.describe in the integration and e2e tests. */
export function knotTests(root?: string): string[] {
  return testsMarked('needsKnot', root);
}

/** The sentence global setup prints when the Knot tests are skipped, else undefined. */
export function knotSkipNotice(root?: string): string | undefined {
  if (knotTestsRun()) return undefined;
  const skipped = knotTests(root);
  return (
    `[testbed] Knot DNS (knotd) not found (${KNOT_INSTALL_HINT}; scripts/test.sh installs it as root, and TESTBED_REQUIRE_KNOT=1 makes it required). ` +
    `Skipping the ${skipped.length} Knot test group(s):\n${skipped.map((s) => `  - ${s}`).join('\n')}`
  );
}

function zoneFile(zone: string): string {
  return [
    '$TTL 60',
    `@   IN SOA ns1.${zone}. hostmaster.${zone}. ( 1 3600 600 86400 60 )`,
    `    IN NS  ns1.${zone}.`,
    'ns1 IN A   127.0.0.1',
    '@   IN A   127.0.0.1',
    '',
  ].join('\n');
}

const ZONE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;
const OWNER_NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9])?)*\.?$/i;

function aclFor(zone: KnotZone, index: number, keyName: string): string[] {
  if (zone.update === 'none') return [];
  const lines = [`  - id: update-${index}`, `    key: ${keyName}`, '    action: update', '    update-type: TXT'];
  if (zone.update !== 'txt') {
    for (const owner of zone.update.owners) if (!OWNER_NAME.test(owner)) throw new Error(`startKnot: invalid owner name ${JSON.stringify(owner)}`);
    lines.push('    update-owner: name', '    update-owner-match: equal', `    update-owner-name: [ ${zone.update.owners.join(', ')} ]`);
  }
  return lines;
}

/** Knot DNS on 127.0.0.1:<ephemeral>, one primary zone per entry of `zones`, updates only as their `update` says. */
export async function startKnot(opts: StartKnotOptions): Promise<KnotService> {
  const knotd = requireBinary('knotd', KNOT_INSTALL_HINT);
  if (opts.zones.length === 0) throw new Error('startKnot: at least one zone is required');
  for (const z of opts.zones) if (!ZONE_NAME.test(z.name)) throw new Error(`startKnot: invalid zone name ${JSON.stringify(z.name)}`);
  const keyName = opts.tsigKeyName ?? 'acme-key';
  const secret = randomBytes(32).toString('base64');
  const sub = mkdtempSync(path.join(opts.dir, 'knot-'));
  mkdirSync(path.join(sub, 'zones'));
  for (const z of opts.zones) writeFileSync(path.join(sub, 'zones', `${z.name}.zone`), zoneFile(z.name));
  const acls = opts.zones.flatMap((z, i) => aclFor(z, i, keyName));

  for (let attempt = 1; ; attempt++) {
    const port = await freePort(true);
    // A fresh database directory per attempt: a journal of a failed attempt would be replayed.
    const db = path.join(sub, `db-${attempt}`);
    mkdirSync(db);
    const conf = [
      'server:',
      `    rundir: "${sub}"`,
      `    pidfile: "${sub}/knot.pid"`,
      `    listen: 127.0.0.1@${port}`,
      // Few threads: the machine is shared; the tests send tens of updates, not thousands.
      '    udp-workers: 1',
      '    tcp-workers: 2',
      '    background-workers: 1',
      'control:',
      `    listen: "${sub}/knot.sock"`,
      'log:',
      '  - target: stderr',
      '    any: info',
      'database:',
      `    storage: "${db}"`,
      // LMDB map sizes (virtual memory): far below the defaults (20 GiB journal).
      '    journal-db-max-size: 64M',
      '    kasp-db-max-size: 16M',
      '    timer-db-max-size: 16M',
      '    catalog-db-max-size: 16M',
      'key:',
      `  - id: ${keyName}`,
      '    algorithm: hmac-sha256',
      `    secret: ${secret}`,
      ...(acls.length > 0 ? ['acl:', ...acls] : []),
      'template:',
      '  - id: default',
      `    storage: "${sub}/zones"`,
      '    file: "%s.zone"',
      // Updates live in the journal (in db/), the zone file stays as written: no flush to disk.
      '    zonefile-sync: -1',
      '    journal-content: changes',
      '    semantic-checks: on',
      'zone:',
      ...opts.zones.flatMap((z, i) => [`  - domain: ${z.name}`, ...(z.update === 'none' ? [] : [`    acl: update-${i}`])]),
      '',
    ].join('\n');
    const confPath = path.join(sub, 'knot.conf');
    writeFileSync(confPath, conf, { mode: 0o600 });

    const proc = spawnManaged({
      dir: opts.dir,
      name: 'knotd',
      command: knotd,
      // No -d: knotd stays in the foreground; -s: our control socket, not /run/knot/knot.sock.
      args: ['-c', confPath, '-s', path.join(sub, 'knot.sock')],
      cwd: sub,
      logPath: path.join(sub, `knotd-${port}.log`),
    });
    try {
      await waitUntil(
        `knotd on 127.0.0.1:${port}`,
        async () => {
          const answers = await Promise.all(opts.zones.map((z) => dnsQuery('127.0.0.1', port, z.name, 'SOA', 500)));
          return answers.every((a) => a.rcode === 'NOERROR' && a.answers.some((r) => r.type === 'SOA'));
        },
        { timeoutMs: opts.timeoutMs ?? 30_000, proc, failOn: /cannot bind address|failed to configure server|critical: |error: config/i },
      );
    } catch (err) {
      await proc.stop();
      if (attempt < 3 && err instanceof StartupError && err.portInUse) continue;
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      address: `127.0.0.1:${port}`,
      tsigKeyName: keyName,
      tsigSecret: secret,
      tsigAlgorithm: 'hmac-sha256',
      zones: opts.zones.map((z) => ({ ...z })),
      dir: sub,
      pid: proc.pid,
      log: () => proc.log(),
      stop: () => proc.stop(),
    };
  }
}
