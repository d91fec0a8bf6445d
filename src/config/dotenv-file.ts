import { readFileSync } from 'node:fs';
import { parse, populate } from 'dotenv';

const ASSIGNMENT = /^\s*(?:export\s+)?([\w.-]+)\s*=[ \t]*(.*)$/;

/**
 * Parses a `.env` file the way the Python AutoTLS's python-dotenv read it.
 * dotenv and python-dotenv agree except for `#` inside an unquoted value:
 * dotenv starts a comment at any `#`, python-dotenv only at a `#` preceded by
 * whitespace. An existing `DBPWD=pa#ss` must keep its whole password, so for
 * unquoted values the python-dotenv reading wins.
 */
export function parseDotenv(source: string): Record<string, string> {
  const values = parse(source);
  for (const line of source.split(/\r\n?|\n/)) {
    const match = ASSIGNMENT.exec(line);
    const key = match?.[1];
    const raw = match?.[2];
    if (key === undefined || raw === undefined || /^['"`]/.test(raw) || !raw.includes('#')) continue;
    values[key] = raw.replace(/\s+#.*$/, '').trim();
  }
  return values;
}

/** Adds the file's variables to `env`, never replacing a variable `env` already has. */
export function applyDotenvFile(path: string, env: Record<string, string | undefined>): void {
  populate(env, parseDotenv(readFileSync(path, 'utf8')), { override: false });
}
