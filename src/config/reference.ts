import { GROUPS } from './variable.js';
import { IGNORED_LEGACY_VARIABLES, VARIABLES, VARIABLE_NAMES, variableSpec, type VariableName } from './variables.js';

/**
 * `.env.example` and `docs/configuration.md`, rendered from the schema.
 * scripts/gen-config-docs.ts writes them; a unit test compares them with the
 * committed files so that neither can drift from the code.
 */

export const GENERATED_FILES = {
  envExample: '.env.example',
  configurationDoc: 'docs/configuration.md',
} as const;

const GENERATOR = 'scripts/gen-config-docs.ts';

function namesIn(group: string): VariableName[] {
  return VARIABLE_NAMES.filter((name) => VARIABLES[name].group === group);
}

export function renderEnvExample(): string {
  const lines = [
    `# AutoTLS configuration. Generated from src/config/variables.ts by ${GENERATOR}; do not edit by hand.`,
    '# Copy to .env and fill in. An empty value means unset; a commented line shows the default.',
    '# "alias" names (the Python AutoTLS names) are accepted too; when both are set, the canonical name wins.',
    '# Reference: docs/configuration.md',
  ];
  for (const group of GROUPS) {
    lines.push('', `# ---- ${group.title} ----`);
    for (const name of namesIn(group.id)) {
      const spec = variableSpec(name);
      const notes = [
        spec.aliases.length > 0 ? `alias: ${spec.aliases.join(', ')}` : undefined,
        spec.secret ? 'secret' : undefined,
      ].filter((note) => note !== undefined);
      lines.push(`# ${spec.description}${notes.length > 0 ? ` [${notes.join('; ')}]` : ''}`);
      lines.push(spec.example === undefined ? `${name}=` : `# ${name}=${spec.example}`);
    }
  }
  lines.push(
    '',
    '# ---- Python AutoTLS (Flask) settings ----',
    `# Accepted and ignored, so an existing AutoTLS .env works unchanged: ${IGNORED_LEGACY_VARIABLES.join(', ')}.`,
  );
  return `${lines.join('\n')}\n`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function code(text: string): string {
  return text.length === 0 ? '' : `\`${text}\``;
}

export function renderConfigurationDoc(): string {
  const out = [
    '# Configuration',
    '',
    `<!-- Generated from src/config/variables.ts by ${GENERATOR}; do not edit by hand. -->`,
    '',
    'AutoTLS reads its configuration from the environment and from a `.env` file in the working directory.',
    'Variables in `.env` never replace variables already set in the environment.',
    '`.env.example` lists every variable.',
    '',
    'Rules that hold for every variable:',
    '',
    '- **Empty means unset.** `NAME=` is the same as leaving `NAME` out, so the default applies.',
    '- **Aliases.** The Python AutoTLS names are accepted unchanged. When a canonical name and one of its aliases are both set, the canonical name wins (a warning is logged if their values differ).',
    '- **Booleans** accept `true`/`false`, `1`/`0`, `yes`/`no` and `on`/`off`, in any case (so the Python `True`/`False` work).',
    '- **Lists** are comma-separated; spaces around items are ignored.',
    '- **Errors.** Invalid configuration stops the start with one line per bad variable, saying what to do. Values of secrets are never shown, and they are scrubbed from log lines.',
    '',
  ];
  for (const group of GROUPS) {
    out.push(`## ${group.title}`, '', group.intro, '', '| Variable | Aliases | Default | Secret | Description |', '|---|---|---|---|---|');
    for (const name of namesIn(group.id)) {
      const spec = variableSpec(name);
      const literal = spec.example !== undefined && spec.example === spec.defaultText;
      const shownDefault = spec.defaultText.length === 0 ? 'none' : literal ? code(spec.defaultText) : spec.defaultText;
      out.push(
        `| ${code(name)} | ${spec.aliases.map(code).join(', ')} | ${cell(shownDefault)} | ${spec.secret ? 'yes' : ''} | ${cell(spec.description)} |`,
      );
    }
    out.push('');
  }
  out.push(
    '## Database URLs',
    '',
    '| Given | Used |',
    '|---|---|',
    '| unset, no DB* variables | `file:./data/autotls.db` (SQLite) |',
    '| `file:./x.db`, `file:/abs/x.db` | as given (SQLite) |',
    '| `sqlite:///instance/tlstool.db` (three slashes: relative) | `file:./instance/tlstool.db` |',
    '| `sqlite:////var/lib/autotls.db` (four slashes: absolute) | `file:/var/lib/autotls.db` |',
    '| `sqlite://`, `sqlite:///:memory:` | `file::memory:` (in-memory SQLite) |',
    '| `postgres://…`, `postgresql://…`, `postgresql+psycopg2://…` | `postgresql://…` (the `+driver` part is dropped) |',
    '| `DBUSER`, `DBPWD`, `DBHOST[:port]`, `DBNAME` | `postgresql://USER:PWD@HOST:5432/NAME` (user and password URL-encoded) |',
    '',
    'Other databases (for example `mysql://`) are refused: only SQLite and PostgreSQL are supported.',
    'When `DATABASE_URL` (or `SQLALCHEMY_DATABASE_URI`) is set, the DB* variables are ignored.',
    '',
    '## Python AutoTLS settings that are ignored',
    '',
    `These Flask settings are accepted and have no effect: ${IGNORED_LEGACY_VARIABLES.map(code).join(', ')}.`,
    '',
  );
  return out.join('\n');
}
