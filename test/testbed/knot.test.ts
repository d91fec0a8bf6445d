// The Knot testbed's skip rule: which tests global setup names when knotd is missing.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { knotSkipNotice, knotTests } from './knot.js';

describe('Knot DNS tests: skipped with their names when knotd is missing, required on CI', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('finds every needsKnot.describe in the integration and e2e tests', () => {
    expect(knotTests()).toContain('integration/dns/rfc2136-knot.test.ts: every test in "RFC2136 provider against Knot DNS"');
  });

  it('names the skipped tests when knotd is missing, and says how to install it', () => {
    vi.stubEnv('TESTBED_KNOT', 'off');
    vi.stubEnv('TESTBED_REQUIRE_KNOT', '');
    const notice = knotSkipNotice();
    expect(notice).toMatch(/^\[testbed\] Knot DNS \(knotd\) not found \(apt-get install -y knot; .*TESTBED_REQUIRE_KNOT=1/);
    expect(notice).toContain('  - integration/dns/rfc2136-knot.test.ts: every test in "RFC2136 provider against Knot DNS"');
  });

  it('skips nothing when Knot is required (TESTBED_REQUIRE_KNOT=1): the tests then fail without knotd', () => {
    vi.stubEnv('TESTBED_KNOT', 'off');
    vi.stubEnv('TESTBED_REQUIRE_KNOT', '1');
    expect(knotSkipNotice()).toBeUndefined();
  });
});
