import type { Db } from '../db/client.js';
import type { Clock } from '../clock.js';
import type { DomainReport, RunReport } from '../notify/notifier.js';

export type RunKind = 'process' | 'single';
export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'nothing-to-do';
export type CertificateStatus = 'ok' | 'new' | 'renew' | 'unavailable';
export type Outcome = 'skipped' | 'issued' | 'renewed' | 'failed' | 'in-progress' | 'deferred';

export interface DomainResult extends DomainReport {
  certificateStatus: CertificateStatus;
  outcome: Outcome;
}

/** The run document of contract section 2. */
export interface RunDocument extends RunReport {
  status: RunStatus;
  results: DomainResult[];
}

/** A run's final status, from its domain outcomes. */
export function finalStatus(results: readonly DomainResult[]): RunStatus {
  if (results.length === 0) return 'nothing-to-do';
  const failed = results.filter((r) => r.outcome === 'failed').length;
  if (failed === 0) return 'succeeded';
  return failed === results.length ? 'failed' : 'partial';
}

function resultRow(result: DomainResult) {
  return {
    domain: result.domain,
    certificateStatus: result.certificateStatus,
    outcome: result.outcome,
    notAfter: result.notAfter ? new Date(result.notAfter) : null,
    messages: JSON.stringify(result.messages),
    errors: JSON.stringify(result.errors),
  };
}

/**
 * Runs and their per-domain results, persisted so `GET /runs/:id` answers from
 * any instance sharing the database.
 */
export class RunStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(id: string, kind: RunKind, testmode: boolean, instance: string): Promise<RunDocument> {
    const startedAt = this.clock.now();
    await this.db.run.create({ data: { id, kind, status: 'running', testmode, instance, startedAt } });
    return { runId: id, status: 'running', testmode, startedAt: startedAt.toISOString(), finishedAt: null, results: [] };
  }

  async addResult(runId: string, position: number, result: DomainResult): Promise<void> {
    await this.db.runResult.create({ data: { runId, position, ...resultRow(result) } });
  }

  /**
   * Writes a run's final status with all its results in one transaction.
   * Idempotent, so it can be retried until the database is back: a run never
   * stays "running" because the database blinked at its end.
   */
  async complete(runId: string, status: RunStatus, finishedAt: Date, results: readonly DomainResult[]): Promise<void> {
    await this.db.$transaction(async (tx) => {
      await tx.runResult.deleteMany({ where: { runId } });
      await tx.runResult.createMany({ data: results.map((result, position) => ({ runId, position, ...resultRow(result) })) });
      await tx.run.update({ where: { id: runId }, data: { status, finishedAt } });
    });
  }

  async get(runId: string): Promise<RunDocument | undefined> {
    const run = await this.db.run.findUnique({ where: { id: runId }, include: { results: { orderBy: { position: 'asc' } } } });
    if (!run) return undefined;
    return {
      runId: run.id,
      status: run.status as RunStatus,
      testmode: run.testmode,
      startedAt: run.startedAt.toISOString(),
      finishedAt: run.finishedAt ? run.finishedAt.toISOString() : null,
      results: run.results.map((r) => ({
        domain: r.domain,
        certificateStatus: r.certificateStatus as CertificateStatus,
        outcome: r.outcome as Outcome,
        notAfter: r.notAfter ? r.notAfter.toISOString() : null,
        messages: JSON.parse(r.messages) as string[],
        errors: JSON.parse(r.errors) as string[],
      })),
    };
  }

  async list(limit: number): Promise<RunDocument[]> {
    const runs = await this.db.run.findMany({ orderBy: { startedAt: 'desc' }, take: limit, select: { id: true } });
    const docs = await Promise.all(runs.map((r) => this.get(r.id)));
    return docs.filter((d): d is RunDocument => d !== undefined);
  }

  /**
   * Runs still `running` long after any run could last belong to an instance
   * that died; they are closed as failed so `/runs` does not show them forever.
   */
  async closeStale(startedBefore: Date): Promise<number> {
    const { count } = await this.db.run.updateMany({
      where: { status: 'running', startedAt: { lt: startedBefore } },
      data: { status: 'failed', finishedAt: this.clock.now() },
    });
    return count;
  }
}
