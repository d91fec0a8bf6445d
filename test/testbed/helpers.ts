// Helpers for test files that use the provided TestbedInfo (plain JSON), e.g.
//
//   import { inject } from 'vitest';
//   import '../../testbed/context.js';
//   const tb = inject('testbed');
//   const url = await createDatabase(tb.postgres.adminUrl, 'leases_test');
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import pg from 'pg';
import { describe, inject, it } from 'vitest';
import type { PebbleInfo } from './context.js';

export { dnsQuery, queryTxt, nsupdate, type TsigServer } from './dns.js';

/**
 * Drops (if present) and creates database `name` on the cluster behind `adminUrl`
 * and returns its URL. Names: lower-case letters, digits and underscores.
 */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`createDatabase: invalid database name ${JSON.stringify(name)}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** POST /moto-api/reset. */
export async function resetMoto(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
}

/** PEM of the root that Pebble's issued certificates chain to (changes at every Pebble start). */
export function fetchPebbleRoot(pebble: Pick<PebbleInfo, 'rootsUrl' | 'caCertPath'>): Promise<string> {
  const ca = readFileSync(pebble.caCertPath);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(pebble.rootsUrl, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${pebble.rootsUrl}: HTTP ${String(res.statusCode)}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${pebble.rootsUrl}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Splits a PEM bundle into its certificates (PEM blocks). */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

type SuiteBody = () => void;
type TestBody = () => Promise<void> | void;

/** Whether the testbed's Pebble is 2.7.0, with ARI and profiles (false on Debian's 2.4.0). */
export function hasPebble27(): boolean {
  return inject('testbed').pebble.ariAndProfiles;
}

/**
 * Tests that need Pebble 2.7.0's ARI or profiles. On Debian's Pebble 2.4.0
 * (no ../shared/pebble/pebble) they are skipped, and global setup says so with
 * their names (it finds them by the `needsPebble27.describe(` / `.it(` calls).
 */
export const needsPebble27 = {
  describe(name: string, body: SuiteBody): void {
    describe.skipIf(!hasPebble27())(name, body);
  },
  it(name: string, body: TestBody, timeoutMs?: number): void {
    it.skipIf(!hasPebble27())(name, body, timeoutMs);
  },
};
