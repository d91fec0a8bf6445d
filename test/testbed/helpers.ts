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

function httpsGetJson(url: string, ca: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export interface PebbleRenewalInfo {
  start: Date;
  end: Date;
  /** The Retry-After header in seconds (Pebble 2.7.0 sends 21600). */
  retryAfterSeconds: number | undefined;
}

/**
 * Pebble 2.7.0's own ARI answer for `certId` (RFC 9773 §4.1): the directory's
 * `renewalInfo` URL plus `/<certID>`, read here independently of AutoTLS.
 */
export async function pebbleRenewalInfo(pebble: Pick<PebbleInfo, 'directoryUrl' | 'caCertPath'>, certId: string): Promise<PebbleRenewalInfo> {
  const ca = readFileSync(pebble.caCertPath);
  const dir = await httpsGetJson(pebble.directoryUrl, ca);
  const base = (dir.body as { renewalInfo?: unknown }).renewalInfo;
  if (typeof base !== 'string') throw new Error(`Pebble's directory offers no renewalInfo (is it 2.4.0?): ${JSON.stringify(dir.body)}`);
  const res = await httpsGetJson(`${base}/${certId}`, ca);
  if (res.status !== 200) throw new Error(`GET ${base}/${certId}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  const window = (res.body as { suggestedWindow?: { start?: string; end?: string } }).suggestedWindow;
  if (!window?.start || !window.end) throw new Error(`Pebble's RenewalInfo has no suggestedWindow: ${JSON.stringify(res.body)}`);
  const retryAfter = res.headers['retry-after'];
  return { start: new Date(window.start), end: new Date(window.end), retryAfterSeconds: typeof retryAfter === 'string' ? Number(retryAfter) : undefined };
}

/**
 * Whether Pebble 2.7.0 accepts `certId` in an order's `replaces`. It indexes the
 * orders by the hex of the serial's big.Int bytes (ca/ca.go) but looks `replaces`
 * up by the hex of the CertID's serial bytes (core/types.go NewCertID), which are
 * the DER bytes (RFC 9773 §4.1): a serial encoded with a leading zero byte (about
 * one certificate in 256) is "not found" (a 500). Let's Encrypt has no such gap.
 */
export function pebbleFindsReplaced(certId: string): boolean {
  const serial = Buffer.from(certId.split('.')[1] ?? '', 'base64url');
  return serial.length > 0 && serial[0] !== 0;
}
