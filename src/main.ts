/**
 * `npm start`: the HTTP service with the configuration from the environment and
 * `.env`. Migrations are applied at start.
 */
import { runServe } from './cli/serve.js';

// AutoTLS pins AWS SDK releases that support Node 20; the SDK's notice about
// future releases needing Node 22 is noise on every start (set it to "false" to see it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

await runServe();
