// RunStore over SQLite: the run documents `GET /runs/:id` answers with (contract section 2).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { finalStatus, type DomainResult } from '../../../src/orchestrator/runs.js';
import { closeSharedDatabase, createHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});
afterAll(closeSharedDatabase);

const result = (domain: string, outcome: DomainResult['outcome'], extra: Partial<DomainResult> = {}): DomainResult => ({
  domain,
  certificateStatus: 'new',
  outcome,
  notAfter: null,
  messages: [],
  errors: [],
  ...extra,
});

describe('RunStore', () => {
  it('creates a running run, adds results as they come, and completes it with every result', async () => {
    h = await createHarness();
    const { runs, world } = h;
    const created = await runs.create('run-1', 'process', false, 'instance-1');
    expect(created).toEqual({ runId: 'run-1', status: 'running', testmode: false, startedAt: world.clock.now().toISOString(), finishedAt: null, results: [] });
    await runs.addResult('run-1', 0, result('a.test', 'issued', { notAfter: '2027-04-01T00:00:00.000Z', messages: ['m1', 'm2'] }));
    expect((await runs.get('run-1'))?.results).toEqual([result('a.test', 'issued', { notAfter: '2027-04-01T00:00:00.000Z', messages: ['m1', 'm2'] })]);

    world.clock.advanceMinutes(5);
    const all = [result('a.test', 'issued'), result('b.test', 'failed', { errors: ['uploading to Fastly: HTTP 503'] })];
    await runs.complete('run-1', 'partial', world.clock.now(), all);
    // Idempotent: completing again (a retry after a database blip) leaves the same document.
    await runs.complete('run-1', 'partial', world.clock.now(), all);
    const done = await runs.get('run-1');
    expect(done).toEqual({ runId: 'run-1', status: 'partial', testmode: false, startedAt: created.startedAt, finishedAt: world.clock.now().toISOString(), results: all });
    expect(await runs.get('nope')).toBeUndefined();
  });

  it('lists the newest runs first, and closes runs left running by a dead instance', async () => {
    h = await createHarness();
    const { runs, world } = h;
    await runs.create('old', 'process', false, 'dead-instance');
    world.clock.advanceHours(2);
    await runs.create('recent', 'single', true, 'live-instance');
    world.clock.advanceMinutes(1);
    await runs.create('newest', 'process', false, 'live-instance');
    await runs.complete('newest', 'succeeded', world.clock.now(), []);
    expect((await runs.list(2)).map((r) => r.runId)).toEqual(['newest', 'recent']);

    const closed = await runs.closeStale(new Date(world.clock.now().getTime() - 3600_000));
    expect(closed).toBe(1);
    expect(await runs.get('old')).toMatchObject({ status: 'failed', finishedAt: world.clock.now().toISOString() });
    expect(await runs.get('recent')).toMatchObject({ status: 'running', testmode: true });
  });

  it('a run\'s status follows its domain outcomes', () => {
    expect(finalStatus([])).toBe('nothing-to-do');
    expect(finalStatus([result('a', 'issued'), result('b', 'deferred'), result('c', 'skipped')])).toBe('succeeded');
    expect(finalStatus([result('a', 'issued'), result('b', 'failed')])).toBe('partial');
    expect(finalStatus([result('a', 'failed')])).toBe('failed');
  });

  it('the Orchestrator persists each result as it finishes and the final document at the end', async () => {
    h = await createHarness();
    await h.addDomain('a.test');
    const started = await h.orchestrator.startProcess(false);
    const final = await started.done;
    const stored = await h.runs.get(started.runId);
    expect(stored).toEqual(final);
    expect(await h.db.runResult.count({ where: { runId: started.runId } })).toBe(1);
  });
});
