import { compose, createAppLogger } from '../composition.js';
import { withLocalApiKey } from './local-key.js';
import { ConfigError, loadSettingsFromProcess } from '../config/index.js';
import { startServer } from '../server.js';
import { loadOpenApi } from '../http/openapi.js';

/** Starts the service and stops it gracefully on SIGTERM/SIGINT (exit 0). */
export async function runServe(): Promise<void> {
  let settings;
  try {
    settings = loadSettingsFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`AutoTLS cannot start: invalid configuration\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createAppLogger(settings);
  const components = await compose(withLocalApiKey(settings, logger), { logger });
  const running = await startServer(components, { openapi: loadOpenApi() });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    components.logger.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        components.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
