/**
 * Writes `.env.example` and `docs/configuration.md` from the configuration
 * schema. `--check` writes nothing and exits 1 when a committed file is stale.
 *
 *   node --import tsx scripts/gen-config-docs.ts [--check]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_FILES, renderConfigurationDoc, renderEnvExample } from '../src/config/reference.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const outputs: Array<[string, string]> = [
  [GENERATED_FILES.envExample, renderEnvExample()],
  [GENERATED_FILES.configurationDoc, renderConfigurationDoc()],
];

function current(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

let stale = 0;
for (const [relative, content] of outputs) {
  const path = resolve(root, relative);
  if (current(path) === content) continue;
  if (check) {
    stale += 1;
    console.error(`${relative} is out of date; run: node --import tsx scripts/gen-config-docs.ts`);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    console.log(`wrote ${relative}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
