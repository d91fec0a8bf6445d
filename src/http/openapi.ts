import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** docs/openapi.json, generated from docs/openapi.yaml; undefined when absent. */
export function loadOpenApi(): unknown {
  const path = join(root, 'docs', 'openapi.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as unknown) : undefined;
}
