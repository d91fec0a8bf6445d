#!/usr/bin/env node
// The `autotls` command. The TypeScript sources are compiled to dist/ at `npm install`.
import { main } from '../dist/cli/index.js';

// AutoTLS pins AWS SDK releases that support Node 20 (see src/main.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const code = await main(process.argv);
if (process.argv[2] !== 'serve') process.exit(code);
