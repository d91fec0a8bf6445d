// A real PowerDNS Authoritative server for the pdns DNS plugin's tests: Debian's
// pdns-server with the gsqlite3 backend (pdns-backend-sqlite3), DNS on
// 127.0.0.1:<ephemeral> (UDP+TCP), the HTTP API on another ephemeral port with a
// random API key, all files in a sub-directory of the testbed directory. The
// PID is registered like every other testbed service (test/testbed/process.ts),
// so destroyTestbedDir()/the exit handlers stop it.
//
//   const pdns = await startPdns({ dir, zones: ['z60.test'] });
//   pdns.apiUrl, pdns.apiKey, pdns.port, await pdns.createZone('other.test'), await pdns.stop()
//
// Zones are created through the API itself (POST /api/v1/servers/localhost/zones,
// https://doc.powerdns.com/authoritative/http-api/zone.html "Creating new zone").
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dnsQuery } from './dns.js';
import { fileExists, freePort, requireBinary, run, spawnManaged, StartupError, waitUntil } from './process.js';

export interface PdnsService {
  host: '127.0.0.1';
  /** DNS port (UDP and TCP). */
  port: number;
  /** `127.0.0.1:<port>`, e.g. for Pebble's -dnsserver. */
  address: string;
  /** Base URL of the webserver (PDNS_API_URL), without /api/v1. */
  apiUrl: string;
  apiKey: string;
  serverName: 'localhost';
  dir: string;
  pid: number;
  /** Creates a Native zone with an NS ns1.<zone> (A 127.0.0.1) and apex A 127.0.0.1. */
  createZone(zone: string): Promise<void>;
  /** Writes a TXT RRset through the API (REPLACE), records given as PowerDNS content strings. */
  replaceTxt(fqdn: string, zone: string, contents: string[]): Promise<void>;
  /** The API's JSON answer for a path below /api/v1 (GET). */
  api(pathBelowV1: string, init?: RequestInit): Promise<Response>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartPdnsOptions {
  /** Testbed directory (from createTestbedDir). */
  dir: string;
  zones?: string[];
  timeoutMs?: number;
}

const SCHEMA_CANDIDATES = ['/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql', '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql'];

export async function startPdns(opts: StartPdnsOptions): Promise<PdnsService> {
  const hint = 'apt-get install -y pdns-server pdns-backend-sqlite3';
  const pdnsServer = requireBinary('pdns_server', hint);
  const sqlite3 = requireBinary('sqlite3', 'apt-get install -y sqlite3');
  const schema = SCHEMA_CANDIDATES.find((p) => fileExists(p));
  if (!schema) throw new Error(`the gsqlite3 schema of pdns-backend-sqlite3 is missing (looked in ${SCHEMA_CANDIDATES.join(', ')}): ${hint}`);

  const sub = mkdtempSync(path.join(opts.dir, 'pdns-'));
  const db = path.join(sub, 'pdns.db');
  await run(sqlite3, ['-bail', db, `.read ${schema}`]);
  // An empty pdns.conf in --config-dir: nothing from /etc/powerdns is read.
  writeFileSync(path.join(sub, 'pdns.conf'), '');
  const apiKey = randomBytes(18).toString('base64url');

  for (let attempt = 1; ; attempt++) {
    const port = await freePort(true);
    const webPort = await freePort();
    const proc = spawnManaged({
      dir: opts.dir,
      name: 'pdns_server',
      command: pdnsServer,
      args: [
        '--daemon=no',
        '--guardian=no',
        '--disable-syslog',
        '--loglevel=5',
        `--config-dir=${sub}`,
        `--socket-dir=${sub}`,
        '--local-address=127.0.0.1',
        `--local-port=${port}`,
        '--api=yes',
        `--api-key=${apiKey}`,
        '--webserver=yes',
        '--webserver-address=127.0.0.1',
        `--webserver-port=${webPort}`,
        '--webserver-allow-from=127.0.0.1',
        '--launch=gsqlite3',
        `--gsqlite3-database=${db}`,
        '--security-poll-suffix=',
        // The caches stay on (packet cache 20 s, query caches), as in production: the tests
        // then show that a change through the API is served at once (the API purges them).
      ],
      cwd: sub,
      logPath: path.join(sub, `pdns-${port}.log`),
    });
    const apiUrl = `http://127.0.0.1:${webPort}`;
    const api = (p: string, init: RequestInit = {}): Promise<Response> =>
      fetch(`${apiUrl}/api/v1${p}`, {
        ...init,
        headers: { 'x-api-key': apiKey, accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string> | undefined) },
        signal: AbortSignal.timeout(5_000),
      });
    try {
      await waitUntil(
        `pdns_server on 127.0.0.1:${port} (API ${webPort})`,
        async () => {
          const [web, soa] = await Promise.all([api('/servers/localhost'), dnsQuery('127.0.0.1', port, 'nonexistent.invalid', 'SOA', 500)]);
          return web.status === 200 && soa.rcode === 'REFUSED';
        },
        { timeoutMs: opts.timeoutMs ?? 30_000, proc, failOn: /Unable to (bind|launch)|Fatal error|Address already in use/i },
      );
    } catch (err) {
      await proc.stop();
      if (attempt < 3 && err instanceof StartupError && err.portInUse) continue;
      throw err;
    }

    const service: PdnsService = {
      host: '127.0.0.1',
      port,
      address: `127.0.0.1:${port}`,
      apiUrl,
      apiKey,
      serverName: 'localhost',
      dir: sub,
      pid: proc.pid,
      api,
      log: () => proc.log(),
      stop: () => proc.stop(),
      async createZone(zone) {
        const name = `${zone.replace(/\.$/, '')}.`;
        const response = await api('/servers/localhost/zones', {
          method: 'POST',
          body: JSON.stringify({
            name,
            kind: 'Native',
            nameservers: [`ns1.${name}`],
            rrsets: [
              { name: `ns1.${name}`, type: 'A', ttl: 60, changetype: 'REPLACE', records: [{ content: '127.0.0.1', disabled: false }] },
              { name, type: 'A', ttl: 60, changetype: 'REPLACE', records: [{ content: '127.0.0.1', disabled: false }] },
            ],
          }),
        });
        if (response.status !== 201) throw new Error(`PowerDNS: creating zone ${name} answered HTTP ${response.status}: ${await response.text()}`);
        await waitUntil(`PowerDNS serving ${name}`, async () => {
          const answer = await dnsQuery('127.0.0.1', port, name, 'SOA', 500);
          return answer.rcode === 'NOERROR' && answer.answers.some((a) => a.type === 'SOA');
        }, { timeoutMs: 10_000, proc });
      },
      async replaceTxt(fqdn, zone, contents) {
        const response = await api(`/servers/localhost/zones/${encodeURIComponent(`${zone.replace(/\.$/, '')}.`)}`, {
          method: 'PATCH',
          body: JSON.stringify({
            rrsets: [{ name: `${fqdn.replace(/\.$/, '')}.`, type: 'TXT', ttl: 300, changetype: 'REPLACE', records: contents.map((content) => ({ content, disabled: false })) }],
          }),
        });
        if (response.status !== 204) throw new Error(`PowerDNS: writing TXT at ${fqdn} answered HTTP ${response.status}: ${await response.text()}`);
      },
    };
    try {
      for (const zone of opts.zones ?? []) await service.createZone(zone);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return service;
  }
}
