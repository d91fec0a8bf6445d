/**
 * `npm start`: the HTTP service with the configuration from the environment and
 * `.env`. Migrations are applied at start.
 */
import { runServe } from './cli/serve.js';

await runServe();
