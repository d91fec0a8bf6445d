/**
 * Writes `docs/openapi.json` from `docs/openapi.yaml` (the source, edited by
 * hand). The service serves the JSON at `/openapi.json` (src/http/openapi.ts).
 * `--check` writes nothing and exits 1 when the committed JSON is stale.
 *
 *   node --import tsx scripts/gen-openapi.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';

export const OPENAPI_YAML = 'docs/openapi.yaml';
export const OPENAPI_JSON = 'docs/openapi.json';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The JSON text generated from the YAML text: two-space indented, one trailing newline. */
export function renderOpenApiJson(yamlText: string): string {
  const spec: unknown = parse(yamlText, { prettyErrors: true, uniqueKeys: true });
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new Error(`${OPENAPI_YAML} does not hold a YAML mapping`);
  return `${JSON.stringify(spec, null, 2)}\n`;
}

function current(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function main(): void {
  const check = process.argv.includes('--check');
  const content = renderOpenApiJson(readFileSync(resolve(root, OPENAPI_YAML), 'utf8'));
  const target = resolve(root, OPENAPI_JSON);
  if (current(target) === content) return;
  if (check) {
    console.error(`${OPENAPI_JSON} is out of date; run: node --import tsx scripts/gen-openapi.ts`);
    process.exitCode = 1;
    return;
  }
  writeFileSync(target, content);
  console.log(`wrote ${OPENAPI_JSON}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
