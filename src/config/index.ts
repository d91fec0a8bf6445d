import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { applyDotenvFile } from './dotenv-file.js';
import { environmentSchema, readEnvironment, type EnvironmentReading } from './schema.js';
import { VARIABLES, VARIABLE_NAMES, type VariableName } from './variables.js';
import type { Settings } from './settings.js';

export type * from './settings.js';
export { secretValues } from './redact.js';

/**
 * Invalid configuration. `problems` has one line per bad variable, naming it
 * and saying what to do; no line contains the value of a secret.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadOptions {
  /** Called with each non-fatal remark, e.g. a canonical name and its alias both set to different values. */
  onWarning?: (message: string) => void;
}

const MAX_QUOTED = 80;

function quote(value: string): string {
  const shown = value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value;
  return JSON.stringify(shown);
}

function isVariableName(key: unknown): key is VariableName {
  return typeof key === 'string' && Object.hasOwn(VARIABLES, key);
}

/** The given secret values, longest first, so that a secret containing another is scrubbed whole. */
function secretInputs(reading: EnvironmentReading): string[] {
  return VARIABLE_NAMES.filter((name) => VARIABLES[name].secret)
    .map((name) => reading.values[name])
    .filter((value): value is string => value !== undefined && value.length >= 3)
    .sort((a, b) => b.length - a.length);
}

/** One line per variable, in the order of the schema, naming the variable (and the alias it came from). */
function problemsOf(error: z.ZodError, reading: EnvironmentReading): string[] {
  const byVariable = new Map<VariableName | undefined, string>();
  for (const issue of error.issues) {
    const key = issue.path[0];
    const name = isVariableName(key) ? key : undefined;
    if (byVariable.has(name)) continue;
    const got = issue.code === 'custom' ? (issue.params?.['got'] as unknown) : undefined;
    let text = issue.message;
    if (typeof got === 'string' && name !== undefined) {
      text = `${VARIABLES[name].secret ? 'the value' : quote(got)} ${issue.message}`;
    }
    const source = name === undefined ? undefined : reading.sources[name];
    const label = name === undefined ? 'configuration' : source === undefined ? name : `${name} (set as ${source})`;
    byVariable.set(name, `${label}: ${text}`);
  }
  const order = (name: VariableName | undefined): number => (name === undefined ? -1 : VARIABLE_NAMES.indexOf(name));
  const secrets = secretInputs(reading);
  return [...byVariable.entries()]
    .sort(([a], [b]) => order(a) - order(b))
    .map(([, line]) => secrets.reduce((out, secret) => out.split(secret).join('[REDACTED]'), line));
}

/**
 * Typed settings from an environment (variable name → value). Aliases (the
 * Python AutoTLS names) are accepted; when a canonical name and its alias are
 * both set, the canonical name wins. Empty values count as unset. Throws
 * `ConfigError` listing every problem at once.
 */
export function loadSettings(env: Readonly<Record<string, string | undefined>>, options: LoadOptions = {}): Settings {
  const reading = readEnvironment(env);
  const result = environmentSchema.safeParse(reading.values);
  if (!result.success) throw new ConfigError(problemsOf(result.error, reading));
  for (const warning of reading.warnings) options.onWarning?.(warning);
  return result.data;
}

export interface ProcessLoadOptions extends LoadOptions {
  /**
   * The `.env` file to read. Default: `.env` in the working directory, skipped
   * when absent; a path given here must exist.
   */
  dotenvPath?: string;
  /** The environment to read and to populate from the file; default `process.env`. */
  env?: Record<string, string | undefined>;
}

/**
 * Settings from `.env` and the process environment. Variables from the file
 * are added to the environment (as the Python AutoTLS's `load_dotenv()` did)
 * but never replace a variable the environment already has. The file is read
 * with dotenv, keeping python-dotenv's reading of `#` (see `parseDotenv`).
 */
export function loadSettingsFromProcess(options: ProcessLoadOptions = {}): Settings {
  const env = options.env ?? process.env;
  const path = resolve(options.dotenvPath ?? '.env');
  if (existsSync(path)) {
    try {
      applyDotenvFile(path, env);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError([`${path}: cannot be read (${reason}); fix its permissions or point to another file`]);
    }
  } else if (options.dotenvPath !== undefined) {
    throw new ConfigError([`${path}: .env file not found; create it (see .env.example) or give the right path`]);
  }
  return loadSettings(env, options);
}
