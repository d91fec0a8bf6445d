// Unbound (Debian package `unbound`), a real caching resolver, on
// 127.0.0.1:<ephemeral> (UDP and TCP), in front of authoritative servers given
// as stub zones (e.g. the testbed's BIND). It caches positive and negative
// answers as a production resolver does: an NXDOMAIN is kept for the zone's
// negative TTL (RFC 2308: the SOA's minimum, 60 s in the testbed zones). Used to
// reproduce what a caching DNS_RESOLVERS entry does to the propagation check.
//
// All files live in a directory under the testbed dir; the process is
// registered and stopped by PID like the other testbed services.
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { query } from '../../src/dns/wire.js';
import { freePort, requireBinary, spawnManaged, waitUntil } from './process.js';

export interface StartUnboundOptions {
  /** Testbed directory (from createTestbedDir, or inject('testbed').dir). */
  dir: string;
  /** Zone → `host:port` of its authoritative server (a stub zone each). */
  stubZones: Record<string, string>;
  timeoutMs?: number;
}

export interface UnboundService {
  host: '127.0.0.1';
  port: number;
  /** host:port, e.g. for DNS_RESOLVERS. */
  address: string;
  pid: number;
  /** The log (unbound writes to stderr; verbosity 1). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

function stubAddress(hostPort: string): string {
  const i = hostPort.lastIndexOf(':');
  return `${hostPort.slice(0, i)}@${hostPort.slice(i + 1)}`;
}

export async function startUnbound(opts: StartUnboundOptions): Promise<UnboundService> {
  const unbound = requireBinary('unbound', 'apt-get install -y unbound', ['/usr/sbin']);
  const zones = Object.keys(opts.stubZones);
  if (zones.length === 0) throw new Error('startUnbound: at least one stub zone is required');
  const sub = mkdtempSync(path.join(opts.dir, 'unbound-'));
  const port = await freePort(true);
  const tlds = [...new Set(zones.map((z) => z.split('.').pop() ?? z))];
  const conf = [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${port}`,
    '  do-ip4: yes',
    '  do-ip6: no',
    '  do-udp: yes',
    '  do-tcp: yes',
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${sub}"`,
    `  pidfile: "${sub}/unbound.pid"`,
    '  logfile: ""',
    '  use-syslog: no',
    '  verbosity: 1',
    '  num-threads: 1',
    '  so-reuseport: no',
    '  access-control: 127.0.0.0/8 allow',
    // The stub servers live on loopback, which Unbound refuses to query by default.
    '  do-not-query-localhost: no',
    // Plain caching resolver: no DNSSEC validation (the test zones are unsigned).
    '  module-config: "iterator"',
    '  qname-minimisation: no',
    // `test.` and friends are locally served (empty) by default (RFC 6761); let them through.
    ...tlds.map((tld) => `  local-zone: "${tld}." nodefault`),
    'remote-control:',
    '  control-enable: no',
    ...zones.flatMap((zone) => ['stub-zone:', `  name: "${zone}."`, `  stub-addr: ${stubAddress(opts.stubZones[zone] ?? '')}`]),
    '',
  ].join('\n');
  const confPath = path.join(sub, 'unbound.conf');
  writeFileSync(confPath, conf);
  const proc = spawnManaged({
    dir: opts.dir,
    name: 'unbound',
    command: unbound,
    args: ['-d', '-c', confPath],
    cwd: sub,
    logPath: path.join(sub, 'unbound.log'),
  });
  try {
    // SOA of the zone apex: answered through the stub, and caching nothing under the names tests use.
    await waitUntil(`unbound on 127.0.0.1:${port}`, async () => (await query({ host: '127.0.0.1', port }, zones[0] ?? '', 'SOA', { timeoutMs: 500 })).rcode === 'NOERROR', {
      timeoutMs: opts.timeoutMs ?? 20_000,
      proc,
      failOn: /fatal error|could not open ports|error: /,
    });
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { host: '127.0.0.1', port, address: `127.0.0.1:${port}`, pid: proc.pid, log: () => proc.log(), stop: () => proc.stop() };
}
