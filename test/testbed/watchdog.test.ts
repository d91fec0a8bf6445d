import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWatchdog } from './watchdog.js';

describe('testbed watchdog', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('reports a service that fails or does not answer, with its log, and stays quiet about one that answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watchdog-'));
    dirs.push(dir);
    const log = join(dir, 'pebble.log');
    writeFileSync(log, 'line 1\nPOST /order-plz -> calling handler()\n');
    const lines: string[] = [];
    const dog = startWatchdog(
      [
        { service: 'BIND', ask: async () => undefined },
        { service: 'Pebble', logPath: log, ask: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:14000')) },
      ],
      { intervalMs: 20, report: (line) => lines.push(line) },
    );
    await new Promise((r) => setTimeout(r, 70));
    const report = await dog.stop();
    expect(dog.stalls.length).toBeGreaterThan(0);
    expect(dog.stalls.every((s) => s.service === 'Pebble')).toBe(true);
    expect(lines[0]).toMatch(/^\[testbed\] Pebble did not answer at .*ECONNREFUSED.*\(load [\d. ]+; .*free/);
    expect(report).toContain('probe(s) of the testbed went unanswered');
    expect(report).toContain("the end of Pebble's log:\nline 1\nPOST /order-plz");
    expect(report).not.toContain('BIND');
  });

  it('gives up on a probe after its timeout, and does not queue rounds behind it', async () => {
    const lines: string[] = [];
    let asked = 0;
    const hang = () => {
      asked++;
      return new Promise(() => undefined);
    };
    const dog = startWatchdog([{ service: 'PostgreSQL', ask: hang }], { intervalMs: 10, timeoutMs: 100, report: (l) => lines.push(l) });
    await new Promise((r) => setTimeout(r, 150));
    await dog.stop();
    expect(lines[0]).toContain('PostgreSQL did not answer at');
    expect(lines[0]).toContain('no answer within 100 ms');
    expect(asked).toBeLessThanOrEqual(2);
  });

  it('reports nothing when every probe answers', async () => {
    const dog = startWatchdog([{ service: 'BIND', ask: async () => undefined }], { intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 40));
    expect(await dog.stop()).toBe('');
  });
});
