// `promtool check rules` and `promtool test rules` on deploy/monitoring, as part
// of the test command (issue 17 item 3). promtool comes with Debian's
// `prometheus` package, which scripts/test.sh installs. Without it these tests
// are skipped with the reason; CI (.ci/run sets TESTBED_REQUIRE_PROMTOOL=1)
// fails instead, as it does for Pebble 2.7.0 (TESTBED_REQUIRE_PEBBLE27).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { ROOT } from '../../e2e/cli-helpers.js';

const DIR = join(ROOT, 'deploy/monitoring');

/** The promtool on PATH (or in /usr/bin; or $PROMTOOL), or why there is none. */
function findPromtool(): { path: string; version: string } | { missing: string } {
  const candidates = process.env.PROMTOOL ? [process.env.PROMTOOL] : ['promtool', '/usr/bin/promtool'];
  for (const path of candidates) {
    const probe = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    if (!probe.error && probe.status === 0) return { path, version: `${probe.stdout}${probe.stderr}`.split('\n')[0] ?? '' };
  }
  return { missing: 'promtool is not installed (Debian package "prometheus"; scripts/test.sh installs it when run as root)' };
}

const promtool = findPromtool();
const required = process.env.TESTBED_REQUIRE_PROMTOOL === '1';
if ('missing' in promtool) {
  console.warn(`[monitoring] ${promtool.missing}: skipping promtool check rules and promtool test rules on deploy/monitoring${required ? '; TESTBED_REQUIRE_PROMTOOL=1 makes that a failure' : ''}.`);
}

/** Runs promtool in deploy/monitoring; skips (or fails when required) without it. */
function run(ctx: TestContext, args: string[]): { status: number | null; output: string } {
  if ('missing' in promtool) {
    if (required) throw new Error(`TESTBED_REQUIRE_PROMTOOL=1 but ${promtool.missing}`);
    ctx.skip(promtool.missing);
    return { status: null, output: '' };
  }
  const result = spawnSync(promtool.path, args, { cwd: DIR, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('promtool on deploy/monitoring', () => {
  it('promtool check rules autotls.rules.yml', (ctx) => {
    const { status, output } = run(ctx, ['check', 'rules', 'autotls.rules.yml']);
    expect(status, output).toBe(0);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
  }, 60_000);

  it('promtool test rules autotls.rules.test.yml: every alert fires when it should and not when it should not', (ctx) => {
    const { status, output } = run(ctx, ['test', 'rules', 'autotls.rules.test.yml']);
    expect(status, output).toBe(0);
    expect(output).toContain('SUCCESS');
  }, 60_000);
});
