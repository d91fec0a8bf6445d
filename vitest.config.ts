import { defineConfig } from 'vitest/config';

// Two projects: `unit` (test/unit, and the fakes' own tests beside them in
// test/fakes, test/testbed and test/dns) needs nothing outside the process and runs in seconds;
// `integration` (everything under test/integration and test/e2e) runs against
// the testbed that test/testbed/global-setup.ts brings up once per suite:
// BIND9, Pebble, PostgreSQL and moto_server on loopback.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/fakes/**/*.test.ts', 'test/testbed/**/*.test.ts', 'test/dns/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/testbed/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
    ],
  },
});
