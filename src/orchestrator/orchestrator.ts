import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { Clock } from '../clock.js';
import type { Metrics } from '../metrics.js';
import { notifyWithin, type Notifier } from '../notify/notifier.js';
import type { DomainCandidate, DomainRepository } from '../domains/repository.js';
import type { UploadHold } from '../storage/upload-hold.js';
import type { DomainStateStore } from '../domains/state.js';
import type { DomainFlow } from './domain-flow.js';
import { errorMessage } from '../util/errors.js';
import type { AriRefresher } from './ari-refresh.js';
import { LETS_ENCRYPT_ISSUER } from '../domains/repository.js';
import { forEachConcurrent } from '../util/pool.js';
import type { OrderBudget } from '../certificates/budget.js';
import { finalStatus, type DomainResult, type RunDocument, type RunKind, type RunStatus, type RunStore } from './runs.js';

export interface OrchestratorSettings {
  maxDomainsPerRun: number;
  concurrency: number;
  excludedDomains: string[];
  windowDays: number;
  runTimeoutSeconds: number;
  leaseTtlSeconds: number;
}

export interface OrchestratorDeps {
  repository: DomainRepository;
  state: DomainStateStore;
  runs: RunStore;
  flow: DomainFlow;
  notifier: Notifier;
  /** The order budget: a continuous wake takes new domains only up to its headroom. */
  budget?: () => Promise<OrderBudget>;
  /** Refreshes renewal times from ARI before each `/process` selection. */
  ari?: AriRefresher;
  /** Fastly's write allowance (the flow's): while it is used up, stored certificates are not selected. */
  uploadHold?: UploadHold;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Identifies this process as a lease owner; unique per instance. */
  instanceId: string;
  settings: OrchestratorSettings;
}

const PERSIST_RETRY_INTERVAL_MS = 2000;
/** Domains one continuous-schedule run selects at most; more due means the next wake comes at once. */
export const CONTINUOUS_PAGE_SIZE = 500;
const PERSIST_RETRY_LIMIT = 300; // ten minutes

/** What a run will work on. */
interface Plan {
  candidates: DomainCandidate[];
  /** Domains reported `deferred` without being processed (backoff). */
  deferred: DomainResult[];
  /** Domains whose lease the run already holds (`/single`). */
  preClaimed: Set<number>;
  /** Order a new certificate even when the live one is not due (`autotls revoke`). */
  force?: boolean;
}

export interface StartedRun {
  runId: string;
  done: Promise<RunDocument>;
}

export class DomainNotFoundError extends Error {
  constructor(domain: string) {
    super(`Domain ${domain} not available for TLS`);
    this.name = 'DomainNotFoundError';
  }
}

export class DomainBusyError extends Error {
  constructor(domain: string) {
    super(`Domain ${domain} is being processed by another run`);
    this.name = 'DomainBusyError';
  }
}

export class ShuttingDownError extends Error {
  constructor() {
    super('AutoTLS is shutting down and accepts no new runs');
    this.name = 'ShuttingDownError';
  }
}

/**
 * One run: pick domains, process each under its lease with bounded
 * concurrency, report. Runs are persisted as they go.
 */
export class Orchestrator {
  private readonly inFlight = new Set<Promise<RunDocument>>();
  private stopping = false;
  private readonly abort = new AbortController();

  constructor(private readonly deps: OrchestratorDeps) {}

  /**
   * `/process`: every eligible domain, up to the per-run cap. The run is
   * created at once; refreshing ARI windows and selecting the domains happen
   * inside it, so `wait=false` answers immediately. A continuous-schedule wake
   * (`continuous`) has no per-run cap: it takes what is due, a page at a time
   * (the scheduler wakes again at once while more is due), and leaves ARI to
   * the scheduler's own timer.
   */
  async startProcess(testmode: boolean, options: { continuous?: boolean } = {}): Promise<StartedRun> {
    this.assertAccepting();
    return this.start('process', testmode, () => this.planProcess(Boolean(options.continuous)), randomUUID());
  }

  private async planProcess(continuous: boolean): Promise<Plan> {
    const { repository, settings, ari, logger } = this.deps;
    const limit = continuous ? CONTINUOUS_PAGE_SIZE : settings.maxDomainsPerRun;
    if (ari && !continuous) {
      await ari.refresh(settings.maxDomainsPerRun * 10).catch((error: unknown) => logger.warn({ err: errorMessage(error) }, 'ARI refresh failed'));
    }
    // Continuous: new orders only up to the budget's headroom (onboarding is spread
    // over the budget), so Let's Encrypt renewals are never pushed out of the page.
    const newOrdersLimit = continuous && this.deps.budget ? await this.deps.budget().then((b) => b.headroom(), () => undefined) : undefined;
    const candidates = await repository.selectDue({
      limit,
      ...(newOrdersLimit !== undefined ? { newOrdersLimit } : {}),
      // Stored certificates wait while Fastly holds uploads back: each would only be deferred.
      ...(this.deps.uploadHold?.heldUntil() ? { uploadsHeld: true } : {}),
      excluded: settings.excludedDomains,
      windowDays: settings.windowDays,
    });
    // A continuous wake does not list the domains in backoff: the end of each backoff is an event of its own.
    const backedOff = continuous ? [] : await repository.selectBackedOff(limit, settings.excludedDomains);
    const deferred: DomainResult[] = backedOff.map((d) => ({
      domain: d.name,
      certificateStatus: d.tlsIssuer === LETS_ENCRYPT_ISSUER ? 'renew' : 'new',
      outcome: 'deferred',
      notAfter: null,
      messages: [`In backoff after repeated failures until ${d.backoffUntil.toISOString()}`],
      errors: [],
    }));
    return { candidates, deferred, preClaimed: new Set() };
  }

  /**
   * `/single/<domain>`: the same flow for one domain from the table, eligible or
   * not. Throws DomainNotFoundError (404) or DomainBusyError (409).
   */
  async startSingle(domain: string, testmode: boolean, options: { force?: boolean } = {}): Promise<StartedRun> {
    this.assertAccepting();
    const candidate = await this.deps.repository.findByName(domain);
    if (!candidate) throw new DomainNotFoundError(domain);
    const runId = randomUUID();
    const owner = this.leaseOwner(runId);
    if (!(await this.claim(candidate, owner))) throw new DomainBusyError(domain);
    const plan: Plan = { candidates: [candidate], deferred: [], preClaimed: new Set([candidate.id]), force: Boolean(options.force) };
    try {
      return await this.start('single', testmode, async () => plan, runId);
    } catch (error) {
      await this.deps.state.releaseLease(candidate.id, owner).catch(() => undefined);
      throw error;
    }
  }

  async get(runId: string): Promise<RunDocument | undefined> {
    return this.deps.runs.get(runId);
  }

  async listRuns(limit: number): Promise<RunDocument[]> {
    return this.deps.runs.list(limit);
  }

  /** Stops accepting runs, lets in-flight domains finish until the deadline, releases leases. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    const all = Promise.allSettled([...this.inFlight]);
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), deadlineMs).unref());
    const outcome = await Promise.race([all.then(() => 'done' as const), timer]);
    if (outcome === 'timeout') {
      this.abort.abort();
      this.deps.logger.warn('shutdown deadline reached; releasing leases of unfinished domains');
    }
    const released = await this.deps.state.releaseAll(this.deps.instanceId);
    this.deps.logger.info({ released }, 'leases released');
  }

  get accepting(): boolean {
    return !this.stopping;
  }

  private assertAccepting(): void {
    if (this.stopping) throw new ShuttingDownError();
  }

  /**
   * Leases belong to one run, not to the instance: two runs in one process must
   * not share a domain any more than two instances may. The instance id prefix
   * lets shutdown release everything this process holds.
   */
  private leaseOwner(runId: string): string {
    return `${this.deps.instanceId}/${runId}`;
  }

  private async claim(candidate: DomainCandidate, owner: string): Promise<boolean> {
    return this.deps.state.claimLease(candidate.id, owner, this.deps.settings.leaseTtlSeconds * 1000);
  }

  private async start(kind: RunKind, testmode: boolean, plan: () => Promise<Plan>, runId: string): Promise<StartedRun> {
    const doc = await this.deps.runs.create(runId, kind, testmode, this.deps.instanceId);
    const done = this.execute(doc, plan);
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done)).catch(() => undefined);
    return { runId, done };
  }

  private async execute(doc: RunDocument, plan: () => Promise<Plan>): Promise<RunDocument> {
    const { logger, settings, clock, metrics } = this.deps;
    const log = logger.child({ runId: doc.runId });
    const endTimer = metrics.runDuration.startTimer();
    const deadline = clock.now().getTime() + settings.runTimeoutSeconds * 1000;
    let planned: Plan;
    try {
      planned = await plan();
    } catch (error) {
      log.error({ err: errorMessage(error) }, 'run could not select its domains');
      const finishedAt = clock.now();
      await this.persistOutcome(doc.runId, 'failed', finishedAt, []);
      endTimer();
      const failed: RunDocument = { ...doc, status: 'failed', finishedAt: finishedAt.toISOString(), results: [] };
      await this.deps.notifier.alert(`Certificate run ${doc.runId} failed before processing any domain: ${errorMessage(error)}`);
      return failed;
    }
    const { candidates, deferred: preDeferred, preClaimed, force } = planned;
    log.info({ domains: candidates.map((c) => c.name), testmode: doc.testmode }, 'run started');
    const results: DomainResult[] = new Array<DomainResult>(candidates.length);
    let position = 0;
    await forEachConcurrent(candidates, settings.concurrency, async (candidate, index) => {
      const result = await this.processOne(candidate, doc, deadline, preClaimed.has(candidate.id), Boolean(force));
      results[index] = result;
      await this.deps.runs.addResult(doc.runId, position++, result).catch((e: unknown) =>
        log.error({ err: errorMessage(e) }, 'could not persist a domain result'),
      );
      if (result.outcome !== 'in-progress') await this.deps.notifier.domainFinished(result, doc.testmode);
    });
    results.push(...preDeferred);
    const status = finalStatus(results);
    const finishedAt = clock.now();
    await this.persistOutcome(doc.runId, status, finishedAt, results);
    endTimer();
    const final: RunDocument = { ...doc, status, finishedAt: finishedAt.toISOString(), results };
    log.info({ status, results: results.map((r) => ({ domain: r.domain, outcome: r.outcome })) }, 'run finished');
    // Slack paces its summary (about 1 message a second, 429 Retry-After): the run's answer waits 10 s at most.
    await notifyWithin(this.deps.notifier.runFinished(final), 10_000);
    return final;
  }

  /**
   * Persists a run's outcome; when the database is away, keeps trying in the
   * background (bounded) so the run does not stay "running". The caller is not
   * held up: the run document it returns is complete either way.
   */
  private async persistOutcome(runId: string, status: RunStatus, finishedAt: Date, results: DomainResult[]): Promise<void> {
    const write = () => this.deps.runs.complete(runId, status, finishedAt, results);
    try {
      await write();
      return;
    } catch (error) {
      this.deps.logger.error({ runId, err: errorMessage(error) }, 'could not persist the run outcome; retrying in the background');
    }
    let attempts = 0;
    const retry = setInterval(() => {
      attempts++;
      write().then(
        () => {
          clearInterval(retry);
          this.deps.logger.info({ runId, attempts }, 'run outcome persisted');
        },
        () => {
          if (attempts >= PERSIST_RETRY_LIMIT) {
            clearInterval(retry);
            this.deps.logger.error({ runId }, 'gave up persisting the run outcome; it will be closed as failed at the next start');
          }
        },
      );
    }, PERSIST_RETRY_INTERVAL_MS);
    retry.unref();
  }

  /** Claims the lease (unless already held), keeps it alive while the flow runs, releases it. */
  private async processOne(candidate: DomainCandidate, doc: RunDocument, deadline: number, claimed: boolean, force = false): Promise<DomainResult> {
    const { state, settings, clock, logger } = this.deps;
    const owner = this.leaseOwner(doc.runId);
    const base = { domain: candidate.name, certificateStatus: candidate.tlsIssuer === LETS_ENCRYPT_ISSUER ? 'renew' : 'new', notAfter: null, errors: [] } as const;
    if (this.abort.signal.aborted || clock.now().getTime() >= deadline) {
      return { ...base, outcome: 'deferred', messages: [this.abort.signal.aborted ? 'Deferred: AutoTLS is shutting down' : `Deferred: the run deadline (RUN_TIMEOUT=${settings.runTimeoutSeconds}s) passed`], errors: [] };
    }
    try {
      if (!claimed) {
        if (!(await this.claim(candidate, owner))) {
          return { ...base, outcome: 'in-progress', messages: ['Another run holds this domain'], errors: [] };
        }
        const due = await this.deps.repository.isStillDue(candidate.id, { excluded: settings.excludedDomains, windowDays: settings.windowDays });
        if (!due) {
          await state.releaseLease(candidate.id, owner);
          return { ...base, outcome: 'skipped', messages: ['Already renewed by another run'], errors: [] };
        }
      }
    } catch (error) {
      return { ...base, outcome: 'failed', messages: [], errors: [`claiming the domain for this run: ${errorMessage(error)}`] };
    }
    const ttl = settings.leaseTtlSeconds * 1000;
    const keepAlive = setInterval(() => {
      state.extendLease(candidate.id, owner, ttl).then(
        (held) => held || logger.warn({ domain: candidate.name }, 'lease lost while processing'),
        (e: unknown) => logger.warn({ domain: candidate.name, err: errorMessage(e) }, 'could not extend lease'),
      );
    }, Math.max(1000, ttl / 3));
    keepAlive.unref();
    let outcome: DomainResult['outcome'] | undefined;
    try {
      const result = await this.deps.flow.run(candidate, {
        runId: doc.runId,
        leaseOwner: owner,
        testmode: doc.testmode,
        explicit: claimed,
        ...(force ? { force } : {}),
        signal: this.abort.signal,
      });
      outcome = result.outcome;
      return result;
    } finally {
      clearInterval(keepAlive);
      // The outcome is written with the release, in one statement, and only while the lease is still ours.
      await state.releaseLease(candidate.id, owner, outcome ? { lastOutcome: outcome } : {}).catch((e: unknown) =>
        logger.warn({ domain: candidate.name, err: errorMessage(e) }, 'could not release lease'),
      );
    }
  }
}

export function newInstanceId(): string {
  return randomUUID();
}
