// External Account Binding (RFC 8555 §7.3.4) against a Pebble 2.7.0 that requires
// it: `externalAccountBindingRequired: true` and one MAC key in
// `externalAccountMACKeys` (Pebble's config, cmd/pebble/main.go; the key is
// base64url without padding, db/memorystore.go AddExternalAccountKeyByID; the
// checks and their problem documents are wfe/wfe.go verifyEAB, tag v2.7.0).
//
// Everything goes through the real binary (`autotls account create`) and the
// service (/single). This file has its own BIND (zone eab.test) and its own Pebble,
// so Pebble's log holds only what this file did. The service never registers an
// account by itself (composition.ts connects with `onlyReturnExisting`): `account
// create` is the registration path, and it is the only place EAB is used.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { startBind, startPebble, type BindService, type PebbleService } from '../testbed/services.js';
import { ACCOUNT_SECRET, createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';
import { ensureBuilt, runCli, show, type CliResult } from './cli-helpers.js';

const ZONE = 'eab.test';
const DOMAIN = 'site.eab.test';
const KID = 'autotls-eab-kid-1';
/** 32 random bytes, base64url without padding: the form Pebble reads (RawURLEncoding) and CAs hand out. */
const HMAC = randomBytes(32).toString('base64url');
const WRONG_HMAC = randomBytes(32).toString('base64url');

const tb = inject('testbed');
let bind: BindService;
let pebble: PebbleService;
let shared: SharedDeployment;
let h: Harness;

beforeAll(async () => {
  ensureBuilt();
  bind = await startBind({ dir: tb.dir, zones: [ZONE] });
  pebble = await startPebble({ dir: tb.dir, dnsServer: `${bind.host}:${bind.port}`, eab: { required: true, macKeys: { [KID]: HMAC } } });
  shared = await createDeployment('sqlite', { registerAccount: false });
  h = await startHarness({
    shared,
    env: {
      LE_DIRECTORY_URL: pebble.directoryUrl,
      RFC2136_NAMESERVER: `${bind.host}:${bind.port}`,
      RFC2136_TSIG_KEY: bind.tsigKeyName,
      RFC2136_TSIG_SECRET: bind.tsigSecret,
      DNS_RESOLVERS: `${bind.host}:${bind.port}`,
      ACME_EMAIL: 'eab@example.test',
      // Configured in the service too, so its logs are checked for the key as well.
      ACME_EAB_KID: KID,
      ACME_EAB_HMAC_KEY: HMAC,
    },
  });
}, 180_000);
afterAll(async () => {
  await h?.stop();
  if (shared) await stopDeployment(shared);
  await pebble?.stop();
  await bind?.stop();
});

/** The CLI with the deployment's environment, minus the EAB variables unless given. */
function cli(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  const { ACME_EAB_KID: _kid, ACME_EAB_HMAC_KEY: _hmac, ...env } = h.env;
  return runCli(args, { ...env, LOG_LEVEL: 'debug', ...extra }, shared.dir);
}

/** Every file under the secrets directory (none before a successful `account create`). */
function secretFiles(): string[] {
  return existsSync(shared.secretsDir) ? readdirSync(shared.secretsDir, { recursive: true, encoding: 'utf8' }).sort() : [];
}

const pebbleLog = (): string => readFileSync(pebble.logPath, 'utf8');
const accountsCreated = (): number => pebbleLog().match(/There are now \d+ accounts in memory/g)?.length ?? 0;

describe('External Account Binding against Pebble (externalAccountBindingRequired)', () => {
  it('the directory says EAB is required', async () => {
    const res = await fetch(pebble.directoryUrl);
    const dir = (await res.json()) as { meta?: { externalAccountRequired?: boolean } };
    expect(dir.meta?.externalAccountRequired).toBe(true);
  });

  it('refuses, writing nothing, without EAB, with an unknown key id, and with a wrong HMAC key; the CA\'s problem is named; the service does not register by itself', async () => {
    const [none, unknownKid, wrongHmac] = await Promise.all([
      cli(['account', 'create']),
      cli(['account', 'create', '--eab-kid', 'no-such-kid', '--eab-hmac', HMAC]),
      cli(['account', 'create'], { ACME_EAB_KID: KID, ACME_EAB_HMAC_KEY: WRONG_HMAC }),
    ]);
    const at = `registering the ACME account at ${pebble.directoryUrl}: `;

    expect(none.code, show(none)).toBe(1);
    expect(none.stderr).toContain(`${at}ACME account registration failed: externalAccountRequired: this CA requires External Account Binding (EAB kid and HMAC key); set ACME_EAB_KID and ACME_EAB_HMAC_KEY (or pass --eab-kid and --eab-hmac) to the credentials the CA issued. Nothing was stored.`);

    // wfe.go verifyEAB: an unknown kid is `unauthorized` "the field 'kid' references a key that is not known to the ACME server".
    expect(unknownKid.code, show(unknownKid)).toBe(1);
    expect(unknownKid.stderr).toContain(`${at}ACME account registration failed: unauthorized: the field 'kid' references a key that is not known to the ACME server; check the External Account Binding key id (--eab-kid) and HMAC key (--eab-hmac), exactly as the CA issued them. Nothing was stored.`);

    // wfe.go verifyEAB: a MAC that does not verify is `unauthorized` "external account binding JWS verification error: ...".
    expect(wrongHmac.code, show(wrongHmac)).toBe(1);
    expect(wrongHmac.stderr).toContain(`${at}ACME account registration failed: unauthorized: external account binding JWS verification error`);
    expect(wrongHmac.stderr).toContain('check the External Account Binding key id (ACME_EAB_KID) and HMAC key (ACME_EAB_HMAC_KEY), exactly as the CA issued them. Nothing was stored.');

    for (const r of [none, unknownKid, wrongHmac]) {
      expect(r.stdout, show(r)).toBe('');
      // LOG_LEVEL=debug: neither key appears anywhere in what the command printed.
      expect(`${r.stdout}${r.stderr}`).not.toContain(HMAC);
      expect(`${r.stdout}${r.stderr}`).not.toContain(WRONG_HMAC);
    }
    // The service does not register by itself, EAB configured or not: without an account its run fails, naming the fix.
    await h.addDomain(DOMAIN, ZONE);
    const before = await h.run(`/single/${DOMAIN}`);
    expect(before.doc.results[0], JSON.stringify(before.doc)).toMatchObject({ domain: DOMAIN, outcome: 'failed' });
    expect(before.doc.results[0]?.errors.join(' ')).toContain(`ACME account key secret ${ACCOUNT_SECRET} does not exist; create an account with "npx autotls account create --email <you>"`);

    // Nothing written: no secret, no file; Pebble created no account.
    expect(secretFiles()).toEqual([]);
    expect(await new FileSecretsStore(shared.secretsDir).get(ACCOUNT_SECRET)).toBeUndefined();
    expect(accountsCreated()).toBe(0);
    expect(pebbleLog()).not.toContain('Successful newAccount Binding');
  });

  it('account create with the right key id and HMAC key registers an EAB-bound account, stores its key, and /single issues with it; the key is in no log', async () => {
    const created = await cli(['account', 'create'], { ACME_EAB_KID: KID, ACME_EAB_HMAC_KEY: HMAC });
    expect(created.code, show(created)).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`^Registered https://127\\.0\\.0\\.1:${pebble.port}/my-account/\\S+\\nAccount key stored in secret ${ACCOUNT_SECRET}\\n$`));
    expect(`${created.stdout}${created.stderr}`).not.toContain(HMAC);
    // Pebble bound the account to our key id (wfe.go: "Successful newAccount Binding with CA using kid ...").
    expect(pebbleLog()).toContain(`Successful newAccount Binding with CA using kid "${KID}"`);
    expect(accountsCreated()).toBe(1);
    const stored = JSON.parse((await new FileSecretsStore(shared.secretsDir).get(ACCOUNT_SECRET)) ?? '{}') as { kty?: string; d?: string };
    expect(stored.kty).toBe('EC');
    expect(stored.d).toBeTruthy();
    expect(secretFiles().length).toBeGreaterThan(0);

    // The --eab-kid/--eab-hmac flags work as well (a second account, in another secret).
    const flags = await cli(['account', 'create', '--eab-kid', KID, '--eab-hmac', HMAC, '--json'], { LE_ACCOUNT_KEY_SECRET_NAME: 'acme/second-account' });
    expect(flags.code, show(flags)).toBe(0);
    expect(`${flags.stdout}${flags.stderr}`).not.toContain(HMAC);

    // The service (composed before the account existed) uses it without a restart.
    const { status, doc } = await h.run(`/single/${DOMAIN}`);
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.results[0], JSON.stringify(doc.results)).toMatchObject({ domain: DOMAIN, outcome: 'issued' });
    expect([...shared.fastly.certs.values()].some((c) => c.domains.includes(DOMAIN))).toBe(true);
    expect(pebbleLog()).toMatch(/Added order "[^"]+" to the db/);
    // Still exactly the two accounts registered above: the service looked its account up, it did not register one.
    expect(accountsCreated()).toBe(2);
    expect(h.logLines.length).toBeGreaterThan(0);
    expect(h.logLines.join('')).not.toContain(HMAC);
  });
});
