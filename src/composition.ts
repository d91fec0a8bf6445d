import { createHash } from 'node:crypto';
import type { Settings } from './config/settings.js';
import { createLogger, type Logger } from './logger.js';
import { systemClock, type Clock } from './clock.js';
import { Metrics, REMAINING_LIFETIME_BUCKETS } from './metrics.js';
import { openDatabase, type Database } from './db/client.js';
import { applyMigrations } from './db/migrate.js';
import { fleetSnapshot } from './db/fleet-metrics.js';
import { createDnsProvider, createChallengePublisher } from './dns/index.js';
import type { DnsProvider } from './dns/provider.js';
import type { ChallengePublisher } from './dns/challenge.js';
import { createSecretsStore } from './secrets/index.js';
import type { SecretsStore } from './secrets/provider.js';
import { createFastlyTls, type FastlyTls } from './storage/fastly.js';
import { createNotifier } from './notify/index.js';
import type { Notifier } from './notify/notifier.js';
import { AcmeIssuer, accountKeyFromSecret } from './certificates/acme.js';
import type { CertificateIssuer } from './certificates/issuer.js';
import { OrderBudget } from './certificates/budget.js';
import { CertificateAuthorities, type CertificateAuthority } from './certificates/authorities.js';
import { PrismaOrderLedger } from './db/order-ledger.js';
import { probeLiveCertificate } from './domains/probe.js';
import { DomainRepository } from './domains/repository.js';
import { DomainStateStore } from './domains/state.js';
import { DomainFlow, type Probe } from './orchestrator/domain-flow.js';
import { Orchestrator, newInstanceId } from './orchestrator/orchestrator.js';
import { RunStore } from './orchestrator/runs.js';
import { AriRefresher } from './orchestrator/ari-refresh.js';
import { secretValues } from './config/index.js';
import { FleetCohorts } from './domains/fleet-cohorts.js';
import { CapacityPlanner } from './orchestrator/capacity-planner.js';
import { PendingEvents } from './domains/pending-events.js';
import { UploadHold } from './storage/upload-hold.js';
import { DryRun } from './orchestrator/dry-run.js';
import { CONTINUOUS } from './orchestrator/scheduler.js';

/**
 * The composition root: the one place that reads settings and wires concrete
 * plugins behind their interfaces. The HTTP service, the CLI and the tests all
 * build AutoTLS through here.
 */
export interface Components {
  settings: Settings;
  logger: Logger;
  clock: Clock;
  database: Database;
  metrics: Metrics;
  notifier: Notifier;
  secrets: SecretsStore;
  dns: DnsProvider;
  publisher: ChallengePublisher;
  fastly: FastlyTls | undefined;
  repository: DomainRepository;
  state: DomainStateStore;
  runs: RunStore;
  /** ACME Renewal Information for the fleet (its own timer in continuous mode). */
  ari: AriRefresher;
  orchestrator: Orchestrator;
  /** Capacity forecast and shortfall warnings. */
  planner: CapacityPlanner;
  /** The continuous schedule's next event (see PendingEvents). */
  pendingEvents: PendingEvents;
  /** `process --dry-run` and `/process?dryrun=1`: the plan and the credential checks, read-only. */
  dryRun: DryRun;
  instanceId: string;
  /** The connected ACME client (connects on first use). */
  issuer(): Promise<CertificateIssuer>;
  /** The primary CA and, when ACME_FALLBACK_DIRECTORY_URL is set, the fallback (certificates/authorities.ts). */
  authorities: CertificateAuthorities;
  /** The account at the CA a recorded directory URL names (`cert_ca`; null: the primary). */
  issuerFor(directoryUrl: string | null | undefined): Promise<CertificateIssuer>;
  /** The directory URL of the CA that issued a domain's recorded certificate (null: the primary, or none recorded). */
  certificateCa(domain: string): Promise<string | null>;
  /** The order budget of the configured ACME account (needs its key; retried after a failure). */
  budget(): Promise<OrderBudget>;
  close(): Promise<void>;
}

export interface ComposeOptions {
  logger?: Logger;
  clock?: Clock;
  instanceId?: string;
  random?: () => number;
  /** Apply migrations first (default true). */
  migrate?: boolean;
  /** Overrides for tests (fault injection). */
  overrides?: {
    dns?: DnsProvider;
    publisher?: ChallengePublisher;
    probe?: Probe;
    secrets?: SecretsStore;
    fastly?: FastlyTls;
    /** A CA in place of AcmeIssuer (the lifecycle simulator's in-memory one). */
    issuer?: CertificateIssuer;
    /** A CA in place of the fallback's AcmeIssuer (needs ACME_FALLBACK_DIRECTORY_URL). */
    fallbackIssuer?: CertificateIssuer;
    notifier?: Notifier;
  };
  leaseTtlSeconds?: number;
}

export function createAppLogger(settings: Settings): Logger {
  return createLogger({ level: settings.logLevel, secrets: secretValues(settings) });
}

export async function compose(settings: Settings, options: ComposeOptions = {}): Promise<Components> {
  const logger = options.logger ?? createAppLogger(settings);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const instanceId = options.instanceId ?? newInstanceId();
  if (options.migrate ?? true) await applyMigrations(settings.database.url, settings.database.provider, logger);
  // Enough PostgreSQL connections for every domain in flight plus the API and leases.
  const database = await openDatabase(settings.database.url, settings.database.provider, { poolSize: Math.max(10, settings.concurrency + 5) });
  logger.info(databaseLogFields(database, settings.database.url), 'database opened');
  const db = database.client;
  const metrics = new Metrics();
  const notifier = options.overrides?.notifier ?? createNotifier(settings, logger, { secrets: secretValues(settings) });
  const secrets = options.overrides?.secrets ?? createSecretsStore(settings, logger);
  const dns = options.overrides?.dns ?? createDnsProvider(settings, logger);
  const publisher = options.overrides?.publisher ?? createChallengePublisher(settings, dns, logger);
  const fastly = options.overrides?.fastly ?? (settings.fastly.apiToken
    ? createFastlyTls({ apiToken: settings.fastly.apiToken, apiUrl: settings.fastly.apiUrl, logger, allowUntrustedRoot: settings.fastly.allowUntrustedRoot })
    : undefined);
  const state = new DomainStateStore(db, clock);
  const repository = new DomainRepository(db, settings.database.provider, clock, state);
  const runs = new RunStore(db, clock);

  // Each is looked up once and shared, but a failure is not kept: the next call
  // tries again, so `autotls account create` takes effect without a restart.
  const accountKey = cachedUntilFailure(() => loadAccountKey(settings, secrets));
  const issuerOverride = options.overrides?.issuer;
  const issuer: () => Promise<CertificateIssuer> = issuerOverride
    ? () => Promise.resolve(issuerOverride)
    : cachedUntilFailure(acmeConnector(settings.acme.directoryUrl, accountKey, { logger, clock, metrics }));
  const ledger = new PrismaOrderLedger(db);
  const budget = cachedUntilFailure(async () => new OrderBudget(ledger, clock, accountId(await accountKey()), settings.acme.orderBudget, settings.acme.directoryUrl));
  const authorities = new CertificateAuthorities(
    { role: 'primary', directoryUrl: settings.acme.directoryUrl, issuer, budget },
    fallbackAuthority(settings, secrets, ledger, { logger, clock, metrics, issuer: options.overrides?.fallbackIssuer }),
  );

  const probe: Probe =
    options.overrides?.probe ??
    ((domain, tlsIssuer, isDue) =>
      probeLiveCertificate({ domain, host: settings.probe.host, port: settings.probe.port, timeoutMs: 5000, tlsIssuer, isDue }));

  // Fastly's write allowance, as its refusals tell it: the flow holds uploads, selection and the schedule wait.
  const uploadHold = new UploadHold(clock);
  const flow = new DomainFlow({
    repository,
    state,
    secrets,
    fastly,
    publisher,
    issuer,
    budget,
    authorities,
    probe,
    uploadHold,
    metrics,
    logger,
    clock,
    random,
    settings: {
      keyType: settings.acme.keyType,
      profile: settings.acme.profile,
      pemSecretBasePath: settings.pemSecretBasePath,
      windowDays: settings.renewal.windowDays,
      windowExplicit: settings.renewal.windowExplicit,
      fastlyConfigurationId: settings.fastly.tlsConfigurationId,
    },
  });
  const issuerFor = (directoryUrl: string | null | undefined): Promise<CertificateIssuer> => authorities.byDirectory(directoryUrl).issuer();
  const ari = new AriRefresher({
    state,
    issuer,
    ...(authorities.fallback ? { issuerFor } : {}),
    clock,
    random,
    logger,
    onCheck: (r) => metrics.ariChecks.inc({ result: r.status }),
  });
  // The continuous schedule paces new orders by the account they would go to.
  const schedulingBudget = (): Promise<OrderBudget> => authorities.schedulingBudget();
  const orchestrator = new Orchestrator({
    ari,
    budget: schedulingBudget,
    uploadHold,
    repository,
    state,
    runs,
    flow,
    notifier,
    metrics,
    logger,
    clock,
    instanceId,
    settings: {
      maxDomainsPerRun: settings.maxDomainsPerRun,
      concurrency: settings.concurrency,
      excludedDomains: settings.excludedDomains,
      windowDays: settings.renewal.windowDays,
      runTimeoutSeconds: settings.runTimeoutSeconds,
      leaseTtlSeconds: options.leaseTtlSeconds ?? settings.leaseTtlSeconds,
    },
  });
  const planner = new CapacityPlanner({
    cohorts: new FleetCohorts(db, clock),
    recentRuns: (limit) => runs.list(limit),
    notifier,
    clock,
    logger,
    settings: {
      schedule: settings.schedule,
      maxDomainsPerRun: settings.maxDomainsPerRun,
      concurrency: settings.concurrency,
      orderBudget: settings.acme.orderBudget,
      excludedDomains: settings.excludedDomains,
      windowDays: settings.renewal.windowDays,
      profile: settings.acme.profile,
    },
  });
  const pendingEvents = new PendingEvents(clock, repository, state, schedulingBudget, {
    excluded: settings.excludedDomains,
    windowDays: settings.renewal.windowDays,
    uploadHold,
  });
  const dryRun = new DryRun({
    repository,
    state,
    dns,
    secrets,
    fastly,
    // A fresh lookup each time (not the cached client): a dry run reports the account as it is now.
    issuer: issuerOverride
      ? issuer
      : acmeConnector(settings.acme.directoryUrl, () => loadAccountKey(settings, secrets), { logger, clock, metrics }),
    fallback: dryRunFallback(settings, secrets, logger, clock, metrics, options.overrides?.fallbackIssuer),
    budget,
    probe,
    clock,
    logger,
    settings: {
      maxDomainsPerRun: settings.maxDomainsPerRun,
      concurrency: settings.concurrency,
      excludedDomains: settings.excludedDomains,
      windowDays: settings.renewal.windowDays,
      windowExplicit: settings.renewal.windowExplicit,
      continuous: settings.schedule === CONTINUOUS,
      pemSecretBasePath: settings.pemSecretBasePath,
      accountKeySecretName: settings.acme.accountKeySecretName,
      directoryUrl: settings.acme.directoryUrl,
      fastlyConfigurationId: settings.fastly.tlsConfigurationId,
      profile: settings.acme.profile,
    },
  });
  refreshCertificateMetrics(database, metrics, clock, logger, state, settings.excludedDomains);
  metrics.attachCapacity(() => planner.last);
  metrics.attachSchedule(settings.schedule);
  metrics.attachAccount(async () => (await budget()).pausedUntil());
  const staleBefore = new Date(clock.now().getTime() - 2 * settings.runTimeoutSeconds * 1000);
  const closed = await runs.closeStale(staleBefore);
  if (closed > 0) logger.warn({ closed }, 'closed runs left unfinished by an instance that stopped');

  return {
    settings,
    logger,
    clock,
    database,
    metrics,
    notifier,
    secrets,
    dns,
    publisher,
    fastly,
    repository,
    state,
    runs,
    orchestrator,
    planner,
    pendingEvents,
    dryRun,
    ari,
    instanceId,
    issuer,
    authorities,
    issuerFor,
    certificateCa: async (domain) => {
      const found = await repository.findByName(domain);
      return found ? ((await state.get(found.id))?.certCa ?? null) : null;
    },
    budget,
    close: () => database.close(),
  };
}

/**
 * `load` once, its promise shared by concurrent callers; a rejected promise is
 * dropped, so the next call loads again instead of failing forever.
 */
export function cachedUntilFailure<T>(load: () => Promise<T>): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () => {
    cached ??= load().catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
    return cached;
  };
}

/** Which database was opened, for the start-up log: the SQLite file, or PostgreSQL's host and name (never the password). */
function databaseLogFields(database: Database, url: string): Record<string, string> {
  if (database.file !== undefined) return { provider: 'sqlite', file: database.file };
  try {
    const parsed = new URL(url);
    return { provider: database.provider, host: parsed.host, name: decodeURIComponent(parsed.pathname.replace(/^\//, '')) };
  } catch {
    return { provider: database.provider };
  }
}

/** The ACME account key: from the secrets store when a name is set, else inline. */
export async function loadAccountKey(settings: Settings, secrets: SecretsStore): Promise<string> {
  const { accountKeySecretName, accountKeyInline } = settings.acme;
  if (accountKeySecretName) {
    const value = await secrets.get(accountKeySecretName);
    if (!value) {
      throw new Error(`ACME account key secret ${accountKeySecretName} does not exist; create an account with "npx autotls account create --email <you>"`);
    }
    return accountKeyFromSecret(value);
  }
  if (accountKeyInline) return accountKeyFromSecret(accountKeyInline);
  throw new Error('No ACME account key: set LE_ACCOUNT_KEY_SECRET_NAME (or LE_ACCOUNT_KEY_SECRET), or run "npx autotls account create --email <you>"');
}

/**
 * The second CA (ACME_FALLBACK_*): its own account key (a secret), account and
 * order budget. The budget's account id includes the directory URL, so the same
 * key registered at both CAs still gives two budgets and two order histories.
 */
function fallbackAuthority(
  settings: Settings,
  secrets: SecretsStore,
  ledger: PrismaOrderLedger,
  deps: { logger: Logger; clock: Clock; metrics: Metrics; issuer: CertificateIssuer | undefined },
): CertificateAuthority | undefined {
  const fallback = settings.acme.fallback;
  if (!fallback) return undefined;
  const accountKey = cachedUntilFailure(() => loadFallbackAccountKey(settings, secrets));
  const override = deps.issuer;
  const issuer: () => Promise<CertificateIssuer> = override
    ? () => Promise.resolve(override)
    : cachedUntilFailure(acmeConnector(fallback.directoryUrl, accountKey, { ...deps, logger: deps.logger.child({ ca: 'fallback' }) }));
  const budget = cachedUntilFailure(async () =>
    new OrderBudget(ledger, deps.clock, accountId(`${fallback.directoryUrl}\n${await accountKey()}`), settings.acme.orderBudget, fallback.directoryUrl),
  );
  return { role: 'fallback', directoryUrl: fallback.directoryUrl, issuer, budget };
}

/** The fallback CA for the dry run: a fresh account lookup each time, like the primary's. */
function dryRunFallback(
  settings: Settings,
  secrets: SecretsStore,
  logger: Logger,
  clock: Clock,
  metrics: Metrics,
  override: CertificateIssuer | undefined,
): { directoryUrl: string; issuer: () => Promise<CertificateIssuer> } | undefined {
  const fallback = settings.acme.fallback;
  if (!fallback) return undefined;
  return {
    directoryUrl: fallback.directoryUrl,
    issuer: override
      ? () => Promise.resolve(override)
      : acmeConnector(fallback.directoryUrl, () => loadFallbackAccountKey(settings, secrets), { logger: logger.child({ ca: 'fallback' }), clock, metrics }),
  };
}

/** Connects to the account of `loadKey` at a CA (`onlyReturnExisting`), counting its requests in the metrics. */
function acmeConnector(directoryUrl: string, loadKey: () => Promise<string>, deps: { logger: Logger; clock: Clock; metrics: Metrics }): () => Promise<CertificateIssuer> {
  return async () =>
    AcmeIssuer.connect({
      directoryUrl,
      accountKeyPem: await loadKey(),
      logger: deps.logger,
      clock: deps.clock,
      onRequest: (endpoint, status) => deps.metrics.acmeRequests.inc({ endpoint, status: String(status) }),
    });
}

/** The fallback CA's account key, from ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME. */
export async function loadFallbackAccountKey(settings: Settings, secrets: SecretsStore): Promise<string> {
  const name = settings.acme.fallback?.accountKeySecretName;
  if (!name) throw new Error('No fallback CA: set ACME_FALLBACK_DIRECTORY_URL and ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME');
  const value = await secrets.get(name);
  if (!value) {
    throw new Error(`fallback CA account key secret ${name} (ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME) does not exist; create the account with "npx autotls account create --fallback --email <you>"`);
  }
  return accountKeyFromSecret(value);
}

/** A stable identifier of the ACME account (the budget's key), derived from its key. */
export function accountId(accountKeyPem: string): string {
  return createHash('sha256').update(accountKeyPem.trim()).digest('hex').slice(0, 32);
}

/**
 * The certificate series come from the database at scrape time, so they
 * survive restarts and agree across instances; start-up reads nothing (it used
 * to load every certificate, which at 100,000 domains cost seconds and hundreds
 * of MB). See src/db/fleet-metrics.ts.
 */
function refreshCertificateMetrics(database: Database, metrics: Metrics, clock: Clock, logger: Logger, state: DomainStateStore, excluded: readonly string[]): void {
  metrics.attachFleet(
    () => fleetSnapshot(database.client, database.provider, { now: clock.now(), bounds: REMAINING_LIFETIME_BUCKETS, excluded }, state),
    logger.child({ component: 'metrics' }),
  );
}
