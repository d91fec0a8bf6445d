/**
 * The heart of the service, real, over a temporary SQLite database migrated by
 * applyMigrations, with the in-memory counterparts of test/fakes at the edges:
 * DomainRepository, DomainStateStore, RunStore, OrderBudget, DomainFlow,
 * Orchestrator and AriRefresher are the service's own classes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, afterEach } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { applyMigrations } from '../../../src/db/migrate.js';
import { openDatabase, type Database, type Db } from '../../../src/db/client.js';
import { createLogger } from '../../../src/logger.js';
import { Metrics } from '../../../src/metrics.js';
import { DomainRepository, type DomainCandidate } from '../../../src/domains/repository.js';
import { DomainStateStore, type DomainState } from '../../../src/domains/state.js';
import { PrismaOrderLedger } from '../../../src/db/order-ledger.js';
import { OrderBudget } from '../../../src/certificates/budget.js';
import type { ChallengePublisher } from '../../../src/dns/challenge.js';
import { DomainFlow, type DomainFlowSettings } from '../../../src/orchestrator/domain-flow.js';
import { secretName } from '../../../src/orchestrator/material.js';
import { Orchestrator, type OrchestratorSettings } from '../../../src/orchestrator/orchestrator.js';
import { AriRefresher } from '../../../src/orchestrator/ari-refresh.js';
import { RunStore } from '../../../src/orchestrator/runs.js';
import type { CertificateIssuer } from '../../../src/certificates/issuer.js';
import { CertificateAuthorities } from '../../../src/certificates/authorities.js';
import { UploadHold } from '../../../src/storage/upload-hold.js';
import { MemoryCa, type MemoryCaOptions } from '../../fakes/memory-ca.js';
import { createFakeWorld, type FakeWorld, type FakeWorldOptions } from '../../fakes/world.js';

export const PEM_BASE = 'pem-secret';
export const CONFIGURATION_ID = 'cfg-test';
export const ACCOUNT = 'acct-test';
export const FALLBACK_ACCOUNT = 'acct-fallback';
export const PRIMARY_URL = 'https://fake-acme.invalid/directory';
export const FALLBACK_URL = 'https://fallback-acme.invalid/directory';

export interface HarnessOptions {
  world?: FakeWorldOptions;
  /** Wraps the in-memory DNS publisher (e.g. to act in the middle of an order). */
  publisher?: (inner: ChallengePublisher, harness: { db: Db }) => ChallengePublisher;
  /** Replaces the repository (a subclass that fails on cue). */
  repository?: (db: Db, clock: FakeWorld['clock']) => DomainRepository;
  /** Hands the flow another issuer than the in-memory CA. */
  issuer?: (world: FakeWorld) => CertificateIssuer;
  flow?: Partial<DomainFlowSettings>;
  orchestrator?: Partial<OrchestratorSettings>;
  /** The order budget's limit (ACME_ORDER_BUDGET); default 300. */
  orderBudget?: number;
  /** No Fastly configured. */
  withoutFastly?: boolean;
  /** A second in-memory CA as the fallback (ACME_FALLBACK_DIRECTORY_URL = FALLBACK_URL), with its own budget. */
  fallback?: boolean | { ca?: Omit<MemoryCaOptions, 'clock' | 'dns' | 'random'> };
}

export interface Harness {
  world: FakeWorld;
  db: Db;
  repository: DomainRepository;
  state: DomainStateStore;
  runs: RunStore;
  budget: OrderBudget;
  /** With `fallback`: the second CA, its budget, and both CAs as the flow sees them. */
  fallback: { ca: MemoryCa; budget: OrderBudget; authorities: CertificateAuthorities } | undefined;
  flow: DomainFlow;
  orchestrator: Orchestrator;
  ari: AriRefresher;
  uploadHold: UploadHold;
  metrics: Metrics;
  instanceId: string;
  addDomain(name: string, fields?: { tlsIssuer?: string | null; tlsExpDate?: Date | null; zoneId?: string | null; owned?: boolean }): Promise<DomainCandidate>;
  candidate(name: string): Promise<DomainCandidate>;
  stateOf(name: string): Promise<DomainState | null>;
  secret(domain: string, kind: 'private_key' | 'fullchain' | 'csr' | 'pending'): Promise<string | undefined>;
  close(): Promise<void>;
}

const logger = createLogger({ level: 'silent' });

let shared: { database: Database; dir: string } | undefined;

/**
 * One migrated SQLite database per test file (opening a Prisma client is the
 * slow part), emptied before each harness. Call `closeSharedDatabase` in afterAll.
 */
async function sharedDatabase(): Promise<Database> {
  if (!shared) {
    const dir = mkdtempSync(join(tmpdir(), 'autotls-orchestrator-'));
    const url = `file:${join(dir, 'autotls.db')}`;
    await applyMigrations(url, 'sqlite', logger);
    shared = { database: await openDatabase(url, 'sqlite'), dir };
  }
  const db = shared.database.client;
  for (const table of ['autotls_run_results', 'autotls_runs', 'autotls_acme_orders', 'autotls_acme_accounts', 'autotls_domain_state', 'tls', 'tlsfastly', 'domains']) {
    await db.$executeRawUnsafe(`DELETE FROM "${table}"`);
  }
  return shared.database;
}

export async function closeSharedDatabase(): Promise<void> {
  if (!shared) return;
  await shared.database.close();
  rmSync(shared.dir, { recursive: true, force: true });
  shared = undefined;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const database = await sharedDatabase();
  const db = database.client;
  const world = createFakeWorld(options.world);
  const { clock } = world;
  const random = () => 0.5;
  const metrics = new Metrics({ defaultMetrics: false });
  const repository = options.repository ? options.repository(db, clock) : new DomainRepository(db, 'sqlite', clock);
  const state = new DomainStateStore(db, clock);
  const runs = new RunStore(db, clock);
  const budget = new OrderBudget(new PrismaOrderLedger(db), clock, ACCOUNT, options.orderBudget ?? 300, options.fallback ? PRIMARY_URL : undefined);
  const issuer = options.issuer ? options.issuer(world) : world.ca;
  const publisher = options.publisher ? options.publisher(world.publisher, { db }) : world.publisher;
  let fallback: Harness['fallback'];
  if (options.fallback) {
    const caOptions = typeof options.fallback === 'object' ? options.fallback.ca : undefined;
    const ca = new MemoryCa({ clock, dns: world.dns, random: world.random, origin: 'https://fallback-acme.invalid', ...caOptions });
    const fallbackBudget = new OrderBudget(new PrismaOrderLedger(db), clock, FALLBACK_ACCOUNT, options.orderBudget ?? 300, FALLBACK_URL);
    const authorities = new CertificateAuthorities(
      { role: 'primary', directoryUrl: PRIMARY_URL, issuer: async () => issuer, budget: async () => budget },
      { role: 'fallback', directoryUrl: FALLBACK_URL, issuer: async () => ca, budget: async () => fallbackBudget },
    );
    fallback = { ca, budget: fallbackBudget, authorities };
  }
  const uploadHold = new UploadHold(clock);
  const flow = new DomainFlow({
    repository,
    state,
    secrets: world.secrets,
    fastly: options.withoutFastly ? undefined : world.fastly,
    publisher,
    issuer: async () => issuer,
    budget: async () => budget,
    ...(fallback ? { authorities: fallback.authorities } : {}),
    probe: world.probe,
    uploadHold,
    metrics,
    logger,
    clock,
    random,
    settings: {
      keyType: 'ec256',
      profile: undefined,
      pemSecretBasePath: PEM_BASE,
      windowDays: 30,
      windowExplicit: false,
      fastlyConfigurationId: CONFIGURATION_ID,
      ...options.flow,
    },
  });
  const authorities = fallback?.authorities;
  const ari = new AriRefresher({
    state,
    issuer: async () => issuer,
    ...(authorities ? { issuerFor: (ca: string | null) => authorities.byDirectory(ca).issuer() } : {}),
    clock,
    random,
    logger,
  });
  const instanceId = randomUUID();
  const orchestrator = new Orchestrator({
    budget: async () => budget,
    uploadHold,
    repository,
    state,
    runs,
    flow,
    notifier: world.notifier,
    ari,
    metrics,
    logger,
    clock,
    instanceId,
    settings: {
      maxDomainsPerRun: 10,
      concurrency: 1,
      excludedDomains: [],
      windowDays: 30,
      runTimeoutSeconds: 600,
      leaseTtlSeconds: 300,
      ...options.orchestrator,
    },
  });

  const candidate = async (name: string): Promise<DomainCandidate> => {
    const found = await repository.findByName(name);
    if (!found) throw new Error(`no domain ${name}`);
    return found;
  };

  return {
    world,
    db,
    repository,
    state,
    runs,
    budget,
    fallback,
    flow,
    orchestrator,
    ari,
    uploadHold,
    metrics,
    instanceId,
    async addDomain(name, fields = {}) {
      await db.domain.create({
        data: {
          name,
          tld: name.split('.').slice(-1)[0] as string,
          zoneId: fields.zoneId === undefined ? 'Z1' : fields.zoneId,
          tlsIssuer: fields.tlsIssuer ?? null,
          tlsExpDate: fields.tlsExpDate ?? null,
          owned: fields.owned ?? true,
        },
      });
      return candidate(name);
    },
    candidate,
    async stateOf(name) {
      return state.get((await candidate(name)).id);
    },
    secret: (domain, kind) => world.secrets.get(secretName(PEM_BASE, domain, kind)),
    async close() {
      await orchestrator.shutdown(1000);
    },
  };
}

/**
 * One harness per test, closed after it, and the file's database closed after
 * the last test: `const harness = harnessPerTest();` at the top of a test file.
 */
export function harnessPerTest(): (options?: HarnessOptions) => Promise<Harness> {
  let current: Harness | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  afterAll(closeSharedDatabase);
  return async (options = {}) => {
    current = await createHarness(options);
    return current;
  };
}
