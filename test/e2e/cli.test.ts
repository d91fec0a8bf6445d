// `npx autotls` end to end: the real binary (bin/autotls.js → dist/) in a
// subprocess, configured only through its environment, against the testbed
// (Pebble, BIND over RFC2136, file secrets, SQLite, the Fastly fake).
// Zones z41 and z42.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { createFastlyTls } from '../../src/storage/fastly.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';
import { API_KEY, baseEnv, closedPort, createDeployment, stopDeployment, FASTLY_TOKEN, type SharedDeployment } from './harness.js';
import { ensureBuilt, jsonOf, runCli, show, startCli, type CliResult } from './cli-helpers.js';

let shared: SharedDeployment;
/** The deployment's environment: the database the `process` tests use. */
let env: Record<string, string>;
/** A second database for the domain-management commands, so their rows are never processed. */
let manageEnv: Record<string, string>;

const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> => runCli(args, { ...env, ...extra }, shared.dir);
const manage = (args: string[]): Promise<CliResult> => runCli(args, manageEnv, shared.dir);

beforeAll(async () => {
  ensureBuilt();
  shared = await createDeployment();
  env = { ...baseEnv(shared), LOG_LEVEL: 'warn' };
  manageEnv = { ...env, DATABASE_URL: `file:${join(shared.dir, 'manage.db')}` };
}, 180_000);

afterAll(async () => {
  if (shared) await stopDeployment(shared);
});

describe('usage', () => {
  it('--help lists every command and exits 0; --version prints the version', async () => {
    const [r, version] = await Promise.all([runCli(['--help'], {}, process.cwd()), runCli(['--version'], {}, process.cwd())]);
    expect(r.code, show(r)).toBe(0);
    for (const command of ['migrate', 'serve', 'process', 'single', 'domains', 'status', 'account', 'fastly']) expect(r.stdout).toContain(command);
    expect(version.code, show(version)).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('an unknown command, or a group without its subcommand, exits 2', async () => {
    const [unknown, bare] = await Promise.all([runCli(['frobnicate'], {}, process.cwd()), runCli(['domains'], {}, process.cwd())]);
    expect(unknown.code, show(unknown)).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(bare.code, show(bare)).toBe(2);
    expect(bare.stderr).toContain('Usage: autotls domains');
  });

  it('invalid configuration exits 2 naming the variable, never the secret', async () => {
    const r = await cli(['status'], { DNS_PROVIDER: 'carrier-pigeon' });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('DNS_PROVIDER');
    expect(r.stderr).not.toContain(FASTLY_TOKEN);
  });
});

describe('migrate', () => {
  it('applies the migrations once, then reports the schema up to date', async () => {
    const fresh = { DATABASE_URL: `file:${join(shared.dir, 'migrate.db')}` };
    const first = await cli(['migrate'], fresh);
    expect(first.code, show(first)).toBe(0);
    expect(first.stdout).toMatch(/^Applied: \d+_init/);
    const second = await cli(['migrate', '--json'], fresh);
    expect(second.code, show(second)).toBe(0);
    const result = jsonOf<{ applied: string[]; alreadyApplied: string[] }>(second);
    expect(result.applied).toEqual([]);
    expect(result.alreadyApplied.length).toBeGreaterThan(0);
  });
});

describe('domains', () => {
  it('add: adds a domain (lower-cased), refuses a duplicate (1), a bad name or a missing --zone-id (2)', async () => {
    const added = await manage(['domains', 'add', 'Added-One.example', '--zone-id', 'Z0001']);
    expect(added.code, show(added)).toBe(0);
    expect(added.stdout.trim()).toBe('Added added-one.example (zone Z0001)');

    const [duplicate, badName, noZone] = await Promise.all([
      manage(['domains', 'add', 'added-one.example', '--zone-id', 'Z0002']),
      manage(['domains', 'add', 'bad_name..example', '--zone-id', 'Z0001']),
      manage(['domains', 'add', 'added-two.example']),
    ]);
    expect(duplicate.code, show(duplicate)).toBe(1);
    expect(duplicate.stderr).toContain('Domain added-one.example already exists (zone Z0001)');
    expect(badName.code, show(badName)).toBe(2);
    expect(badName.stderr).toContain('Invalid domain name');
    expect(noZone.code, show(noZone)).toBe(2);
    expect(noZone.stderr).toContain("required option '--zone-id <id>' not specified");
  });

  it('import: a good CSV imports every row', async () => {
    const file = join(shared.dir, 'good.csv');
    writeFileSync(file, 'name,zone_id,status\nimp-a.example,Z1,\n"imp-b.example",Z2,Parked\nIMP-C.example,Z3,Active\n');
    const r = await manage(['domains', 'import', file]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe('Imported 3 domain(s): 3 added, 0 updated');
  });

  it('import: a bad CSV reports line numbers and imports nothing (2); --skip-invalid imports the rest', async () => {
    const file = join(shared.dir, 'bad.csv');
    writeFileSync(file, ['name,zone_id', 'ok-1.example,Z1', 'not a domain,Z1', 'ok-2.example,', 'ok-3.example,Z3', 'ok-1.example,Z1', ''].join('\n'));
    const refused = await manage(['domains', 'import', file]);
    expect(refused.code, show(refused)).toBe(2);
    expect(refused.stderr).toContain('3 invalid row(s)');
    expect(refused.stderr).toContain('nothing was imported');
    expect(refused.stderr).toMatch(/line 3: invalid domain name/);
    expect(refused.stderr).toMatch(/line 4: zone_id is empty/);
    expect(refused.stderr).toMatch(/line 6: duplicate domain ok-1\.example/);
    const between = jsonOf<Array<{ name: string }>>(await manage(['domains', 'list', '--json']));
    expect(between.map((d) => d.name)).not.toContain('ok-3.example');

    const skipped = await manage(['domains', 'import', file, '--skip-invalid', '--json']);
    expect(skipped.code, show(skipped)).toBe(0);
    const result = jsonOf<{ added: number; updated: number; skipped: Array<{ line: number }> }>(skipped);
    expect(result).toMatchObject({ added: 2, updated: 0 });
    expect(result.skipped.map((s) => s.line)).toEqual([3, 4, 6]);

    const missing = await manage(['domains', 'import', join(shared.dir, 'no-such.csv')]);
    expect(missing.code, show(missing)).toBe(2);
    expect(missing.stderr).toContain('Cannot read');
  });

  it('list: a text table and JSON', async () => {
    const [text, json] = await Promise.all([manage(['domains', 'list']), manage(['domains', 'list', '--json'])]);
    expect(text.code, show(text)).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^DOMAIN\s+ZONE\s+STATUS\s+OWNED\s+ISSUER\s+EXPIRES$/);
    expect(lines.find((l) => l.startsWith('imp-b.example'))).toMatch(/^imp-b\.example\s+Z2\s+Parked\s+yes\s+-\s+-$/);
    expect(json.code, show(json)).toBe(0);
    const rows = jsonOf<Array<{ name: string; zoneId: string; status: string | null; owned: boolean }>>(json);
    expect(rows.map((d) => d.name)).toEqual(['added-one.example', 'imp-a.example', 'imp-b.example', 'imp-c.example', 'ok-1.example', 'ok-3.example']);
    expect(rows.find((d) => d.name === 'imp-c.example')).toMatchObject({ zoneId: 'Z3', status: 'Active', owned: true });
  });
});

describe('process, single and status against Pebble', () => {
  it('process --testmode issues z41 without touching Fastly', async () => {
    expect((await cli(['domains', 'add', 'z41.test', '--zone-id', 'z41.test'])).code).toBe(0);
    const r = await cli(['process', '--testmode']);
    expect(r.code, show(r)).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Run [0-9a-f-]{36}: succeeded \(testmode\)$/);
    expect(lines[1]).toMatch(/^DOMAIN\s+CERT\s+OUTCOME\s+NOT AFTER\s+DETAIL$/);
    expect(lines.find((l) => l.startsWith('z41.test'))).toMatch(/^z41\.test\s+new\s+issued\s+\d{4}-/);
    expect(shared.fastly.requests).toEqual([]);
  });

  it('process issues z42 and uploads it; the JSON is the run document', async () => {
    expect((await cli(['domains', 'add', 'z42.test', '--zone-id', 'z42.test'])).code).toBe(0);
    const r = await cli(['process', '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = jsonOf<RunDocument>(r);
    expect(doc).toMatchObject({ status: 'succeeded', testmode: false });
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0]).toMatchObject({ domain: 'z42.test', certificateStatus: 'new', outcome: 'issued', errors: [] });
    expect([...shared.fastly.certs.values()].some((c) => c.domains.includes('z42.test'))).toBe(true);

    const again = await cli(['process']);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toMatch(/: nothing-to-do\nNo certificates needed/);
  });

  it('status: a table and JSON with expiry and next renewal', async () => {
    const [text, json] = await Promise.all([cli(['status']), cli(['status', '--json'])]);
    expect(text.code, show(text)).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^DOMAIN\s+ISSUER\s+EXPIRES\s+NEXT RENEWAL\s+LAST OUTCOME\s+BACKOFF$/);
    expect(lines.find((l) => l.startsWith('z42.test'))).toMatch(/^z42\.test\s+Lets Encrypt\s+\S+Z\s+\S+Z\s+issued\s+-$/);
    expect(json.code, show(json)).toBe(0);
    const rows = jsonOf<Array<{ domain: string; issuer: string; expires: string; nextRenewal: string; phase: string; failures: number }>>(json);
    expect(rows.map((r) => r.domain).sort()).toEqual(['z41.test', 'z42.test']);
    for (const row of rows) {
      expect(row).toMatchObject({ issuer: 'Lets Encrypt', phase: 'recorded', failures: 0 });
      expect(Date.parse(row.nextRenewal)).toBeGreaterThan(Date.now());
      expect(Date.parse(row.nextRenewal)).toBeLessThan(Date.parse(row.expires));
    }
  });

  it('single: renews one domain (0); unknown (1) and invalid (2) names are refused', async () => {
    const [unknown, invalid] = await Promise.all([cli(['single', 'unknown.test']), cli(['single', 'a/b.test'])]);
    expect(unknown.code, show(unknown)).toBe(1);
    expect(unknown.stderr.trim()).toBe('Domain unknown.test not available for TLS');
    expect(invalid.code, show(invalid)).toBe(2);
    expect(invalid.stderr).toContain('Invalid domain name');

    const r = await cli(['single', 'Z41.test', '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = jsonOf<RunDocument>(r);
    expect(doc).toMatchObject({ status: 'succeeded', testmode: false });
    expect(doc.results[0]).toMatchObject({ domain: 'z41.test', outcome: 'renewed' });
    expect([...shared.fastly.certs.values()].some((c) => c.domains.includes('z41.test'))).toBe(true);
  });
});

describe('account create', () => {
  it('registers with Pebble and stores the key; refuses to overwrite (1); a bad or missing email is usage (2)', async () => {
    const secret = 'acme/cli-created';
    const account = { LE_ACCOUNT_KEY_SECRET_NAME: secret };
    const [bad, none] = await Promise.all([cli(['account', 'create', '--email', 'not-an-email'], account), cli(['account', 'create'], account)]);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('is not an email address');
    expect(none.code, show(none)).toBe(2);
    expect(none.stderr).toContain('--email <address>, or set ACME_EMAIL');

    const created = await cli(['account', 'create', '--email', 'ops@example.test'], account);
    expect(created.code, show(created)).toBe(0);
    expect(created.stdout).toMatch(/^Registered https:\/\/127\.0\.0\.1:\d+\/\S+\nAccount key stored in secret acme\/cli-created\n$/);
    const stored = JSON.parse((await new FileSecretsStore(shared.secretsDir).get(secret)) ?? '{}') as { kty?: string; d?: string };
    expect(stored.kty).toMatch(/^(RSA|EC)$/);
    expect(stored.d).toBeTruthy();

    // ACME_EMAIL stands in for --email.
    const again = await cli(['account', 'create', '--json'], { ...account, ACME_EMAIL: 'ops@example.test' });
    expect(again.code, show(again)).toBe(1);
    expect(again.stderr).toContain('refusing to overwrite');
    expect(await new FileSecretsStore(shared.secretsDir).get(secret)).toBe(JSON.stringify(stored));
  });
});

describe('fastly', () => {
  it('certs lists the bulk certificates', async () => {
    const [text, json] = await Promise.all([cli(['fastly', 'certs']), cli(['fastly', 'certs', '--json'])]);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(/^ID\s+DOMAINS\s+NOT AFTER\n/);
    expect(text.stdout).toMatch(/\n\S+\s+z42\.test \*\.z42\.test\s+\S+Z\n|\n\S+\s+\*\.z42\.test z42\.test\s+\S+Z\n/);
    const certs = jsonOf<Array<{ id: string; domains: string[] }>>(json);
    expect(certs.map((c) => c.id).sort()).toEqual([...shared.fastly.certs.keys()].sort());
  });

  it('cleanup-keys --dry-run lists an unused key; without it the key is deleted and used keys stay', async () => {
    const fastly = createFastlyTls({ apiToken: FASTLY_TOKEN, apiUrl: shared.fastly.url, logger: pino({ level: 'silent' }) });
    const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const unused = await fastly.uploadPrivateKey(pem, 'stray key');
    const used = [...shared.fastly.keys.keys()].filter((id) => shared.fastly.keyInUse(id));
    expect(used.length).toBeGreaterThan(0);

    const dry = await cli(['fastly', 'cleanup-keys', '--dry-run']);
    expect(dry.code, show(dry)).toBe(0);
    expect(dry.stdout).toBe(`Would delete 1 unused private key(s):\n  ${unused.id} stray key\n`);
    expect(shared.fastly.keys.has(unused.id)).toBe(true);

    const real = await cli(['fastly', 'cleanup-keys', '--json']);
    expect(real.code, show(real)).toBe(0);
    expect(jsonOf<{ dryRun: boolean; keys: Array<{ id: string }> }>(real)).toMatchObject({ dryRun: false, keys: [{ id: unused.id }] });
    expect(shared.fastly.keys.has(unused.id)).toBe(false);
    for (const id of used) expect(shared.fastly.keys.has(id)).toBe(true);
  });
});

describe('serve', () => {
  it('serves the API on PORT/HOST and stops with exit 0 on SIGTERM', async () => {
    const port = await closedPort();
    const served = startCli(['serve'], { ...env, HOST: '127.0.0.1', PORT: String(port) }, shared.dir);
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 30_000;
      let health: Response | undefined;
      while (!health && Date.now() < deadline) {
        health = await fetch(`${url}/healthcheck`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 200));
      }
      expect(health?.status, served.output()).toBe(200);
      const runs = await fetch(`${url}/runs?limit=1`, { headers: { Authorization: `Bearer ${API_KEY}` } });
      expect(runs.status).toBe(200);
      expect(((await runs.json()) as { runs: RunDocument[] }).runs).toHaveLength(1);
      const spec = await fetch(`${url}/openapi.json`, { headers: { 'Flask-Key': API_KEY } });
      expect(spec.status).toBe(200);
      expect(((await spec.json()) as { openapi: string }).openapi).toBe('3.1.0');
    } finally {
      served.child.kill('SIGTERM');
    }
    expect(await served.exited, served.output()).toBe(0);
  });
});
