/**
 * The tests a testbed requirement guards (`needsPebble27.describe/it`,
 * `needsKnot.describe`), found in the integration and e2e test files, so that
 * global setup can name each test it skips.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TEST_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `file: title` (or `file: every test in "title"`) of every `<marker>.describe/it` under `root`. */
export function testsMarked(marker: string, root = TEST_ROOT): string[] {
  const found: string[] = [];
  const call = new RegExp(`${marker}\\.(describe|it)\\(\\s*(['"\`])(.*?)\\2`, 'g');
  for (const area of ['integration', 'e2e']) {
    let files: string[];
    try {
      files = readdirSync(path.join(root, area), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.test.ts'));
    } catch {
      continue;
    }
    for (const file of files.sort()) {
      const text = readFileSync(path.join(root, area, file), 'utf8');
      for (const m of text.matchAll(call)) {
        found.push(`${area}/${file}: ${m[1] === 'describe' ? `every test in "${m[3] ?? ''}"` : (m[3] ?? '')}`);
      }
    }
  }
  return found;
}
