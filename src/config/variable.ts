import { z } from 'zod';
import { Invalid, type Parser } from './parsers.js';
import type { Settings } from './settings.js';

/**
 * One row of the configuration and how it is built. The one description of
 * AutoTLS's configuration is `VARIABLES` (./variables.ts): every environment
 * variable with its canonical name (the key), the names it is also accepted
 * under, its default, a one-line description, whether it is a secret (and
 * where its value lands in `Settings`), and the zod type that turns its string
 * into a typed value. ./schema.ts assembles the rows into `environmentSchema`,
 * which adds the rules that span several variables and produces `Settings`.
 * `.env.example` and `docs/configuration.md` are generated from the same rows
 * (scripts/gen-config-docs.ts), so they cannot disagree with the code.
 */

export const GROUPS = [
  { id: 'service', title: 'Service', intro: 'The HTTP service and its API key.' },
  { id: 'database', title: 'Database', intro: 'SQLite (the default) or PostgreSQL. The DB* variables are the Python AutoTLS way of naming a PostgreSQL server and apply only when no database URL is set.' },
  { id: 'aws', title: 'AWS', intro: 'Route 53 and Secrets Manager. Keys, when set, sign every call together with AWS_SESSION_TOKEN; without keys, the AWS SDK default credential chain applies (AWS_PROFILE and SSO, web identity, ECS/EKS container and EC2 instance roles). Roles are assumed with STS AssumeRole (session name autotls), shared by both services and refreshed before they expire; see docs/operations.md.' },
  { id: 'fastly', title: 'Fastly', intro: 'Fastly Platform TLS, where certificates are uploaded.' },
  { id: 'acme', title: 'ACME (Let\'s Encrypt)', intro: 'The certificate authority and the ACME account.' },
  { id: 'renewal', title: 'Renewal runs', intro: 'Which domains a run takes, how many, and when.' },
  { id: 'dns', title: 'DNS-01 challenges', intro: 'Where the _acme-challenge TXT records are published, and how their propagation is checked.' },
  { id: 'secrets', title: 'Secrets storage', intro: 'Where private keys, certificates and CSRs are kept.' },
  { id: 'notify', title: 'Notifications', intro: 'Slack and a generic signed JSON webhook.' },
] as const;

export type GroupId = (typeof GROUPS)[number]['id'];

/** One environment variable. `T` is its typed value once parsed (defaults applied). */
export interface VariableSpec<T> {
  readonly group: GroupId;
  /** Other accepted names, Python AutoTLS names first. The canonical name wins when several are set. */
  readonly aliases: readonly string[];
  readonly description: string;
  /** Secret values are never quoted in messages and are scrubbed from logs. */
  readonly secret: boolean;
  /** Where a secret's value ends up in `Settings` (the forms to scrub); empty for other variables. */
  readonly secretsIn: SecretLocator;
  /** The default as documented; empty when there is none. */
  readonly defaultText: string;
  /**
   * The literal default shown (commented out) in `.env.example`; undefined
   * when there is none, and the variable is then listed empty (unset).
   */
  readonly example: string | undefined;
  /** Parses the value (undefined when unset or empty) to `T`. */
  readonly schema: z.ZodType<T, string | undefined>;
}

/** The values a secret variable puts in `Settings`, in every form they can show up in a message. */
export type SecretLocator = (settings: Settings) => ReadonlyArray<string | undefined>;

interface VariableOptions<T> {
  group: GroupId;
  aliases?: readonly string[];
  description: string;
  /** Marks the variable secret, saying where its value lands in `Settings`. */
  secret?: SecretLocator;
  parse: Parser<T>;
  /** Documented default when it is not the literal `default` (e.g. "AWS SDK default chain"). */
  defaultText?: string;
  /** Literal default for `.env.example` when `default` does not format as one. */
  example?: string;
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Wraps a parser as a zod type: `undefined` in (unset), `fallback` out. */
function fromParser<T, D>(parse: Parser<T>, fallback: D): z.ZodType<T | D, string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T | D => {
      if (raw === undefined) return fallback;
      const value = parse(raw);
      if (value instanceof Invalid) {
        ctx.issues.push({ code: 'custom', message: value.problem, input: raw, params: { got: value.got ?? raw } });
        return z.NEVER;
      }
      return value;
    });
}

export function variable<T>(options: VariableOptions<T> & { default: NoInfer<T> }): VariableSpec<T>;
export function variable<T>(options: VariableOptions<T>): VariableSpec<T | undefined>;
export function variable<T>(options: VariableOptions<T> & { default?: NoInfer<T> }): VariableSpec<T | undefined> {
  const literal = 'default' in options ? formatDefault(options.default) : undefined;
  const example = options.example ?? literal;
  return {
    group: options.group,
    aliases: options.aliases ?? [],
    description: options.description,
    secret: options.secret !== undefined,
    secretsIn: options.secret ?? (() => []),
    defaultText: options.defaultText ?? literal ?? '',
    example: example === '' ? undefined : example,
    schema: fromParser(options.parse, options.default),
  };
}

export const anyText: Parser<string> = (raw) => raw;
