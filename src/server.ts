import type { Server } from 'node:http';
import { Cron } from 'croner';
import { createApp } from './http/app.js';
import { answerClientErrors } from './http/client-error.js';
import type { Components } from './composition.js';
import { errorMessage } from './orchestrator/domain-flow.js';

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

  let schedule: Cron | undefined;
  if (settings.schedule) {
    schedule = new Cron(settings.schedule, { protect: true }, async () => {
      try {
        const run = await orchestrator.startProcess(settings.appEnv !== 'production');
        logger.info({ runId: run.runId }, 'scheduled run started');
        await run.done;
      } catch (error) {
        logger.error({ err: errorMessage(error) }, 'scheduled run failed');
      }
    });
    logger.info({ schedule: settings.schedule, next: schedule.nextRun()?.toISOString() }, 'built-in schedule enabled');
  }

  const stop = async (): Promise<void> => {
    schedule?.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await orchestrator.shutdown(settings.shutdownTimeoutSeconds * 1000);
    server.closeAllConnections();
    await closed;
    await components.close();
  };
  return { server, stop };
}

export function addressPort(server: Server): number | undefined {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : undefined;
}
