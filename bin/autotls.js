#!/usr/bin/env node
// The `autotls` command. The TypeScript sources are compiled to dist/ at `npm install`.
import { main } from '../dist/cli/index.js';

const code = await main(process.argv);
if (process.argv[2] !== 'serve') process.exit(code);
