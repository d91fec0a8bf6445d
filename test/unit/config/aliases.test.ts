import { describe, expect, it } from 'vitest';
import { loadSettings, type Settings } from '../../../src/config/index.js';
import { VARIABLES, VARIABLE_NAMES } from '../../../src/config/variables.js';

/** Every alias: the canonical name, a value, and where it lands in Settings. */
const ALIASES: Array<{ alias: string; canonical: string; value: string; read: (s: Settings) => unknown; expected: unknown; extra?: Record<string, string> }> = [
  { alias: 'FLASK_ENV', canonical: 'APP_ENV', value: 'staging', read: (s) => s.appEnv, expected: 'staging' },
  { alias: 'FLASK_SECRET_KEY', canonical: 'API_KEY', value: 'k-0123456789abcdef', read: (s) => s.apiKey, expected: 'k-0123456789abcdef' },
  { alias: 'SQLALCHEMY_DATABASE_URI', canonical: 'DATABASE_URL', value: 'postgresql://u:p@db:5432/n', read: (s) => s.database, expected: { url: 'postgresql://u:p@db:5432/n', provider: 'postgresql' } },
  { alias: 'AWS_ACCESS_KEY', canonical: 'AWS_ACCESS_KEY_ID', value: 'AKIAEXAMPLE', read: (s) => s.aws.accessKeyId, expected: 'AKIAEXAMPLE', extra: { AWS_SECRET_ACCESS_KEY: 'secret-example' } },
  { alias: 'AWS_SECRET_KEY', canonical: 'AWS_SECRET_ACCESS_KEY', value: 'secret-example', read: (s) => s.aws.secretAccessKey, expected: 'secret-example', extra: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' } },
  { alias: 'AWS_REGION_NAME', canonical: 'AWS_REGION', value: 'eu-west-1', read: (s) => s.aws.region, expected: 'eu-west-1' },
];

describe('aliases', () => {
  it('the table covers every alias of the schema', () => {
    const declared = VARIABLE_NAMES.flatMap((name) => VARIABLES[name].aliases.map((alias) => `${alias}->${name}`)).sort();
    expect(ALIASES.map((a) => `${a.alias}->${a.canonical}`).sort()).toEqual(declared);
  });

  it.each(ALIASES)('$alias sets $canonical', ({ alias, canonical, value, read, expected, extra }) => {
    const viaAlias = loadSettings({ ...extra, [alias]: value });
    const viaCanonical = loadSettings({ ...extra, [canonical]: value });
    expect(read(viaAlias)).toEqual(expected);
    expect(viaAlias).toEqual(viaCanonical);
  });

  it.each(ALIASES)('$canonical wins over $alias, with a warning that shows no value', ({ alias, canonical, value, read, expected, extra }) => {
    const warnings: string[] = [];
    const otherValue = canonical === 'DATABASE_URL' ? 'sqlite:///other.db' : canonical === 'APP_ENV' ? 'production' : `${value}-alias`;
    const env = { API_KEY: 'long-enough-api-key-123', ...extra, [alias]: otherValue, [canonical]: value };
    const s = loadSettings(env, { onWarning: (w) => warnings.push(w) });
    expect(read(s)).toEqual(expected);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(canonical);
    expect(warnings[0]).toContain(alias);
    expect(warnings[0]).not.toContain(value);
    expect(warnings[0]).not.toContain(otherValue);
  });

  it('no warning when canonical and alias agree, or when the alias is empty', () => {
    const warnings: string[] = [];
    loadSettings({ APP_ENV: 'staging', FLASK_ENV: 'staging' }, { onWarning: (w) => warnings.push(w) });
    loadSettings({ APP_ENV: 'staging', FLASK_ENV: '' }, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
  });

  it('an empty canonical name falls back to the alias', () => {
    expect(loadSettings({ APP_ENV: '', FLASK_ENV: 'staging' }).appEnv).toBe('staging');
  });

  it('a bad value given through an alias names both the variable and the alias', () => {
    try {
      loadSettings({ FLASK_ENV: 'qa' });
      expect.unreachable();
    } catch (error) {
      expect(String(error)).toContain('APP_ENV (set as FLASK_ENV): "qa" is not supported; use one of local, staging, production');
    }
  });
});
