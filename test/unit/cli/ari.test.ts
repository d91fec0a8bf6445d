// `autotls ari refresh`: usage errors (exit 2) before anything is opened, and
// the report of what changed. The command against a real CA is in
// test/e2e/ari-pebble.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/index.js';
import { formatSummary, summarise } from '../../../src/cli/ari.js';
import type { AriCheckResult } from '../../../src/orchestrator/ari-refresh.js';

afterEach(() => vi.restoreAllMocks());

async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const code = await main(['node', 'autotls', ...args]);
  return { code, stderr };
}

describe('autotls ari refresh: usage', () => {
  it('wants a domain or --all', async () => {
    const r = await cli('ari', 'refresh');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Give a domain, or --all');
  });
  it('refuses a domain together with --all', async () => {
    const r = await cli('ari', 'refresh', 'a.test', '--all');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not both');
  });
  it('refuses an invalid domain name', async () => {
    const r = await cli('ari', 'refresh', 'a/../b');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid domain name');
  });
});

describe('autotls ari refresh: the report', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const results: AriCheckResult[] = [
    {
      domain: 'revoked.test',
      status: 'moved',
      before: new Date('2026-07-01T00:00:00Z'),
      after: now,
      window: { start: new Date('2026-05-29T00:00:00Z'), end: new Date('2026-05-30T00:00:00Z') },
      nextCheck: new Date('2026-06-01T06:00:00Z'),
      explanationUrl: 'https://ca.example/incident',
    },
    { domain: 'steady.test', status: 'unchanged', before: new Date('2026-07-02T00:00:00Z'), after: new Date('2026-07-02T00:00:00Z') },
    { domain: 'flaky.test', status: 'failed', before: null, after: null, error: 'asking the CA for renewal information about flaky.test: timeout' },
  ];
  it('counts each outcome', () => {
    expect(summarise(results)).toMatchObject({ checked: 3, moved: 1, unchanged: 1, failed: 1, busy: 0, noAri: 0 });
  });
  it('names what moved, to when, the CA window, its explanation and each error', () => {
    const text = formatSummary(summarise(results), now);
    expect(text).toContain('Asked the CA about 3 certificate(s): 1 moved, 1 unchanged, 1 failed');
    expect(text).toMatch(/revoked\.test\s+moved\s+2026-07-01T00:00:00Z\s+2026-06-01T00:00:00Z \(due now\)\s+2026-05-29T00:00:00Z \.\. 2026-05-30T00:00:00Z\s+2026-06-01T06:00:00Z/);
    expect(text).toContain('revoked.test: the CA explains at https://ca.example/incident');
    expect(text).toContain('flaky.test: asking the CA for renewal information about flaky.test: timeout');
    expect(text).toContain('renewed by the next /process run');
  });
});

describe('autotls ari refresh --all on a large fleet', () => {
  it('lists only what did not stay as it was, and says how many are not listed', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const steady = Array.from({ length: 60 }, (_, i): AriCheckResult => ({ domain: `d${i}.test`, status: 'unchanged', before: now, after: now }));
    const moved: AriCheckResult = { domain: 'moved.test', status: 'moved', before: new Date('2026-07-01T00:00:00Z'), after: now };
    const text = formatSummary(summarise([...steady, moved]), now);
    expect(text).toContain('Asked the CA about 61 certificate(s): 1 moved, 60 unchanged');
    expect(text).toContain('moved.test');
    expect(text).not.toContain('d7.test');
    expect(text).toContain('(60 unchanged not listed; --json lists every one)');
  });
});
