import type { Server } from 'node:http';
import { Cron } from 'croner';
import { createApp } from './http/app.js';
import { answerClientErrors } from './http/client-error.js';
import type { Components } from './composition.js';
import { errorMessage } from './util/errors.js';
import { CONTINUOUS, ContinuousScheduler } from './orchestrator/scheduler.js';

export interface RunningServer {
  server: Server;
  /** Graceful stop: no new runs, in-flight domains finish until the deadline, leases released. */
  stop(): Promise<void>;
}

/**
 * Serves the HTTP API and, with SCHEDULE set, triggers runs itself. With several
 * instances on one database, each schedules its own runs and the per-domain
 * leases keep the work single.
 */
export async function startServer(components: Components, options: { port?: number; host?: string; openapi?: unknown } = {}): Promise<RunningServer> {
  const { settings, logger, orchestrator, database } = components;
  const app = createApp({
    orchestrator,
    metrics: components.metrics,
    notifier: components.notifier,
    logger,
    apiKey: settings.apiKey,
    forceTestmode: settings.appEnv !== 'production',
    ready: async () => {
      await database.ping();
      return true;
    },
    openapi: options.openapi,
    dryRun: components.dryRun,
  });
  const port = options.port ?? settings.port;
  const host = options.host ?? settings.host;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  answerClientErrors(server);
  server.headersTimeout = 20_000;
  server.requestTimeout = 0; // waited runs may last up to RUN_TIMEOUT
  logger.info({ port: addressPort(server), host, appEnv: settings.appEnv, database: settings.database.provider }, 'AutoTLS listening');

  let schedule: { stop(): void } | undefined;
  const testmode = settings.appEnv !== 'production';
  if (settings.schedule === CONTINUOUS) {
    const continuous = new ContinuousScheduler({
      clock: components.clock,
      random: Math.random,
      logger,
      nextEventAt: () => components.pendingEvents.nextEventAt(),
      wake: () => continuousWake(components, testmode),
    });
    continuous.start();
    schedule = continuous;
    logger.info({ schedule: CONTINUOUS }, 'continuous schedule enabled');
  } else if (settings.schedule) {
    const cron = new Cron(settings.schedule, { protect: true }, async () => {
      try {
        const run = await orchestrator.startProcess(testmode);
        logger.info({ runId: run.runId }, 'scheduled run started');
        await run.done;
      } catch (error) {
        logger.error({ err: errorMessage(error) }, 'scheduled run failed');
      }
    });
    schedule = cron;
    logger.info({ schedule: settings.schedule, next: cron.nextRun()?.toISOString() }, 'built-in schedule enabled');
  }
  // The capacity forecast: a minute after start (never in the way of start-up), then hourly.
  const forecastTimers = [setTimeout(() => void components.planner.check(), 60_000), setInterval(() => void components.planner.check(), 3_600_000)];
  for (const timer of forecastTimers) timer.unref();

  const stop = async (): Promise<void> => {
    schedule?.stop();
    for (const timer of forecastTimers) clearTimeout(timer);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await orchestrator.shutdown(settings.shutdownTimeoutSeconds * 1000);
    server.closeAllConnections();
    await closed;
    await components.close();
  };
  return { server, stop };
}

/**
 * One continuous-schedule wake: the ARI checks that are due (their own timer:
 * the next check is one of the pending events), then everything due. A failed
 * ARI sweep is logged and does not stop the renewals.
 */
export async function continuousWake(
  components: Pick<Components, 'ari' | 'orchestrator' | 'logger' | 'pendingEvents' | 'clock'> & Partial<Pick<Components, 'metrics'>>,
  testmode: boolean,
): Promise<void> {
  await components.ari.refreshDue().catch((error: unknown) => components.logger.warn({ err: errorMessage(error) }, 'ARI refresh failed'));
  // Wakes for ARI checks or a budget refill often find nothing to renew: no run then.
  if (!(await components.pendingEvents.workDue())) {
    components.metrics?.recordIdleWake(components.clock.now()); // a successful run with nothing to do, unrecorded
    return;
  }
  const run = await components.orchestrator.startProcess(testmode, { continuous: true });
  await run.done;
}

export function addressPort(server: Server): number | undefined {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : undefined;
}
