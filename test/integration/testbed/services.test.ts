// The testbed's service starters on their own (private instances in a private
// temp dir, so nothing here touches the shared testbed).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsQuery, nsupdate, queryTxt } from '../../testbed/dns.js';
import { createTestbedDir, destroyTestbedDir, isAlive, pidFilePath, readRegistry, requireBinary } from '../../testbed/process.js';
import { ensurePebbleTls, httpsGet, startBind, startPebble } from '../../testbed/services.js';

describe('testbed services', () => {
  let dir: string;
  beforeAll(() => {
    dir = createTestbedDir();
  });
  afterAll(async () => {
    await destroyTestbedDir(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('a missing binary fails with one sentence saying what to install', () => {
    expect(() => requireBinary('autotls-no-such-daemon', 'apt-get install -y autotls-no-such-daemon')).toThrow(
      'autotls-no-such-daemon not found: apt-get install -y autotls-no-such-daemon',
    );
  });

  it('BIND retries on another port when its port is taken, and serves UDP and TCP on one port', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const bind = await startBind({ dir, zones: ['one.test', 'two.test'], port: taken });
      expect(bind.port).not.toBe(taken);
      const soa = await dnsQuery(bind.host, bind.port, 'two.test', 'SOA');
      expect(soa.rcode).toBe('NOERROR');
      await nsupdate(bind, ['update add _acme-challenge.one.test. 60 TXT "v1"', 'update add _acme-challenge.one.test. 60 TXT "v2"']);
      expect((await queryTxt(bind.host, bind.port, '_acme-challenge.one.test')).sort()).toEqual(['v1', 'v2']);
      // TCP on the same port (nsupdate uses TCP for large updates; dig +tcp here).
      const dig = requireBinary('dig', 'apt-get install -y bind9-dnsutils');
      const out = execFileSync(dig, ['+tcp', '+short', '-p', String(bind.port), '@127.0.0.1', '_acme-challenge.one.test', 'TXT'], { encoding: 'utf8' });
      expect(out).toContain('"v1"');
      await bind.stop();
      expect(isAlive(bind.pid)).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('several Pebbles share one HTTPS CA; env overrides the defaults', async () => {
    const tls = await ensurePebbleTls(dir);
    const [a, b] = await Promise.all([
      startPebble({ dir, dnsServer: '127.0.0.1:1' }),
      startPebble({ dir, dnsServer: '127.0.0.1:2', env: { PEBBLE_WFE_NONCEREJECT: '30' } }),
    ]);
    expect(a.caCertPath).toBe(tls.caCertPath);
    expect(b.caCertPath).toBe(tls.caCertPath);
    expect(a.directoryUrl).not.toBe(b.directoryUrl);
    const ca = readFileSync(tls.caCertPath);
    const dirDoc = await httpsGet(b.directoryUrl, ca);
    expect(JSON.parse(dirDoc.body)).toHaveProperty('newOrder');
    const env = readFileSync(`/proc/${b.pid}/environ`, 'utf8').split('\0');
    expect(env).toContain('PEBBLE_WFE_NONCEREJECT=30');
    expect(env).toContain('PEBBLE_AUTHZREUSE=0');
    expect(env).toContain('PEBBLE_VA_NOSLEEP=1');
    expect(readRegistry(pidFilePath(dir)).map((e) => e.pid)).toEqual(expect.arrayContaining([a.pid, b.pid]));
    await Promise.all([a.stop(), b.stop()]);
    expect(isAlive(a.pid) || isAlive(b.pid)).toBe(false);
  });
});
