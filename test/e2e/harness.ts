// Builds a real AutoTLS service against the testbed: BIND (RFC2136), Pebble,
// the file or AWS secrets store, SQLite or PostgreSQL, the Fastly and Slack
// fakes. Tests drive it over HTTP, as cron and operators do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { inject } from 'vitest';
import { loadSettings } from '../../src/config/index.js';
import { compose, type ComposeOptions, type Components } from '../../src/composition.js';
import { startServer, addressPort, type RunningServer } from '../../src/server.js';
import { createLogger } from '../../src/logger.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { startFastlyFake, type FastlyFake } from '../testbed/fastly-fake.js';
import { startSlackFake, type SlackFake } from '../testbed/slack-fake.js';
import { createDatabase, pebbleFindsReplaced, queryTxt } from '../testbed/helpers.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';

export const API_KEY = 'e2e-api-key-0123456789abcdef';
export const FASTLY_TOKEN = 'fastly-token-e2e-0123456789';
export const TLS_CONFIGURATION_ID = 'tlsconfig0001';
export const ACCOUNT_SECRET = 'acme/account-key';

export interface HarnessOptions {
  database?: 'sqlite' | 'postgresql';
  env?: Record<string, string>;
  compose?: ComposeOptions;
  /** Reuse these fakes/dirs (several instances of one deployment). */
  shared?: SharedDeployment;
  /**
   * Register an ACME account at the testbed's Pebble and store it in the file
   * secrets under ACCOUNT_SECRET (default true). Tests that use another CA or
   * another secrets store pass false and provide their own account.
   */
  registerAccount?: boolean;
}

/** What several instances of one deployment share: database, secrets, fakes, account. */
export interface SharedDeployment {
  databaseUrl: string;
  secretsDir: string;
  fastly: FastlyFake;
  slack: SlackFake;
  probePort: number;
  dir: string;
}

export interface Harness {
  url: string;
  components: Components;
  server: RunningServer;
  shared: SharedDeployment;
  logLines: string[];
  env: Record<string, string>;
  request(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  run(path: string): Promise<{ status: number; doc: RunDocument }>;
  addDomain(name: string, zoneId?: string, extra?: Record<string, unknown>): Promise<number>;
  stop(): Promise<void>;
}

/** A loopback port where nothing listens: the live-certificate probe finds no certificate there. */
export async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function createDeployment(
  database: 'sqlite' | 'postgresql' = 'sqlite',
  options: { registerAccount?: boolean } = {},
): Promise<SharedDeployment> {
  const tb = inject('testbed');
  const dir = mkdtempSync(join(tmpdir(), 'autotls-e2e-'));
  const databaseUrl =
    database === 'sqlite'
      ? `file:${join(dir, 'autotls.db')}`
      : await createDatabase(tb.postgres.adminUrl, `e2e_${Date.now()}_${Math.floor(Math.random() * 1e6)}`);
  const secretsDir = join(dir, 'secrets');
  if (options.registerAccount ?? true) {
    const registered = await AcmeIssuer.register({ directoryUrl: tb.pebble.directoryUrl, email: 'e2e@example.test' });
    await new FileSecretsStore(secretsDir).put(ACCOUNT_SECRET, JSON.stringify(registered.accountKeyJwk));
  }
  return {
    databaseUrl,
    secretsDir,
    fastly: await startFastlyFake({ token: FASTLY_TOKEN, configurationIds: [TLS_CONFIGURATION_ID] }),
    slack: await startSlackFake(),
    probePort: await closedPort(),
    dir,
  };
}

export function baseEnv(shared: SharedDeployment): Record<string, string> {
  const tb = inject('testbed');
  return {
    APP_ENV: 'production',
    API_KEY,
    LOG_LEVEL: 'debug',
    DATABASE_URL: shared.databaseUrl,
    DNS_PROVIDER: 'rfc2136',
    RFC2136_NAMESERVER: `${tb.dns.host}:${tb.dns.port}`,
    RFC2136_TSIG_KEY: tb.dns.tsigKeyName,
    RFC2136_TSIG_SECRET: tb.dns.tsigSecret,
    RFC2136_TSIG_ALGORITHM: 'hmac-sha256.',
    DNS_RESOLVERS: `${tb.dns.host}:${tb.dns.port}`,
    DNS_PROPAGATION_TIMEOUT: '20',
    SECRETS_PROVIDER: 'file',
    SECRETS_DIR: shared.secretsDir,
    LE_DIRECTORY_URL: tb.pebble.directoryUrl,
    LE_ACCOUNT_KEY_SECRET_NAME: ACCOUNT_SECRET,
    ACME_KEY_TYPE: 'ec256',
    // Let's Encrypt gives an order that names no profile its `classic` one; Pebble 2.7.0
    // picks one at random (wfe.go). The suite names classic, so lifetimes are Let's Encrypt's.
    ...(tb.pebble.ariAndProfiles ? { ACME_PROFILE: 'classic' } : {}),
    FASTLY_API_TOKEN: FASTLY_TOKEN,
    FASTLY_API_URL: shared.fastly.url,
    FASTLY_TLS_CONFIGURATION_ID: TLS_CONFIGURATION_ID,
    FASTLY_ALLOW_UNTRUSTED_ROOT: 'true',
    ENABLE_SLACK_NOTIFICATIONS: 'true',
    SLACK_WEBHOOK_URL: shared.slack.url(),
    TLS_PROBE_HOST: '127.0.0.1',
    TLS_PROBE_PORT: String(shared.probePort),
    MAX_DOMAINS_PER_RUN: '10',
    CONCURRENCY: '5',
  };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const shared = options.shared ?? (await createDeployment(options.database, { registerAccount: options.registerAccount }));
  const env = { ...baseEnv(shared), ...options.env };
  const settings = loadSettings(env);
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void (logLines.push(line), process.env.E2E_LOGS && process.stderr.write(line)) } });
  const components = await compose(settings, { logger, ...options.compose });
  const server = await startServer(components, { port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${addressPort(server.server)}`;
  const ownsShared = options.shared === undefined;

  const request = (path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    const key = init.key === undefined ? API_KEY : init.key;
    if (key !== null) headers.set('Flask-Key', key);
    return fetch(`${url}${path}`, { ...init, headers });
  };

  return {
    url,
    components,
    server,
    shared,
    logLines,
    env,
    request,
    async run(path) {
      const res = await request(path);
      return { status: res.status, doc: (await res.json()) as RunDocument };
    },
    async addDomain(name, zoneId = name, extra = {}) {
      const row = await components.database.client.domain.create({
        data: { name, tld: name.slice(name.lastIndexOf('.') + 1), zoneId, owned: true, ...extra },
      });
      return row.id;
    },
    async stop() {
      await server.stop();
      if (ownsShared) await stopDeployment(shared);
    },
  };
}

export async function stopDeployment(shared: SharedDeployment): Promise<void> {
  await shared.fastly.stop();
  await shared.slack.stop();
  rmSync(shared.dir, { recursive: true, force: true });
}

/** The TXT values BIND serves at `_acme-challenge.<domain>` right now. */
export async function challengeRecords(domain: string): Promise<string[]> {
  const tb = inject('testbed');
  return queryTxt(tb.dns.host, tb.dns.port, `_acme-challenge.${domain}`);
}

/**
 * Issues `<base>.<zone>` with /single, for a test that renews it with ARI `replaces`.
 * Pebble 2.7.0 cannot find about one certificate in 256 by its CertID
 * (pebbleFindsReplaced); for such a one `<base>2.<zone>` is issued instead, and so on
 * (at most 5). Returns the domain whose certificate Pebble can find.
 */
export async function issueReplaceable(h: Harness, base: string, zone: string): Promise<string> {
  let domain = '';
  for (let i = 1; i <= 5; i++) {
    domain = `${base}${i === 1 ? '' : i}.${zone}`;
    await h.addDomain(domain, zone);
    const { status, doc } = await h.run(`/single/${domain}`);
    if (status !== 200 || doc.results[0]?.outcome !== 'issued') throw new Error(`/single/${domain}: ${status} ${JSON.stringify(doc)}`);
    const state = await h.components.database.client.domainState.findFirstOrThrow({ where: { domain: { name: domain } } });
    if (state.certId === null || pebbleFindsReplaced(state.certId)) break;
  }
  return domain;
}

