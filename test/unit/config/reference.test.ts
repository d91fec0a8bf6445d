import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../../src/config/dotenv-file.js';
import { loadSettings } from '../../../src/config/index.js';
import { GENERATED_FILES, renderConfigurationDoc, renderEnvExample } from '../../../src/config/reference.js';
import { IGNORED_LEGACY_VARIABLES, VARIABLES, VARIABLE_NAMES } from '../../../src/config/variables.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const committed = (path: string) => readFileSync(resolve(root, path), 'utf8');
const regenerate = 'run: node --import tsx scripts/gen-config-docs.ts';

describe('generated configuration files', () => {
  it(`.env.example matches the schema (${regenerate})`, () => {
    expect(committed(GENERATED_FILES.envExample)).toBe(renderEnvExample());
  });

  it(`docs/configuration.md matches the schema (${regenerate})`, () => {
    expect(committed(GENERATED_FILES.configurationDoc)).toBe(renderConfigurationDoc());
  });

  it('list every variable, its aliases and the ignored Flask settings', () => {
    const example = renderEnvExample();
    const doc = renderConfigurationDoc();
    for (const name of VARIABLE_NAMES) {
      expect(example).toMatch(new RegExp(`^(# )?${name}=`, 'm'));
      expect(doc).toContain(`| \`${name}\` |`);
      for (const alias of VARIABLES[name].aliases) {
        expect(example).toContain(alias);
        expect(doc).toContain(`\`${alias}\``);
      }
    }
    for (const name of IGNORED_LEGACY_VARIABLES) {
      expect(example).toContain(name);
      expect(doc).toContain(name);
    }
  });

  it('.env.example copied as .env gives the defaults', () => {
    expect(loadSettings(parseDotenv(renderEnvExample()))).toEqual(loadSettings({}));
  });

  it('the generator --check passes on the committed files', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-config-docs.ts', '--check'], { cwd: root, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
