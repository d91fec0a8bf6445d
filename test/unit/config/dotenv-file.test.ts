import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDotenv } from '../../../src/config/dotenv-file.js';
import { ConfigError, loadSettingsFromProcess } from '../../../src/config/index.js';
import { PYTHON_ENV_EXAMPLE } from './helpers.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'autotls-config-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeEnv(content: string): string {
  const path = join(dir, '.env');
  writeFileSync(path, content);
  return path;
}

describe('loadSettingsFromProcess', () => {
  it('reads .env without overriding variables already in the environment', () => {
    const dotenvPath = writeEnv('APP_ENV=staging\nPORT=9000\nEXCLUDED_DOMAINS=a.example, b.example\n');
    const env: Record<string, string | undefined> = { PORT: '7000' };
    const settings = loadSettingsFromProcess({ dotenvPath, env });
    expect(settings.appEnv).toBe('staging');
    expect(settings.port).toBe(7000);
    expect(settings.excludedDomains).toEqual(['a.example', 'b.example']);
    // The file's variables join the environment, as python-dotenv's load_dotenv() did.
    expect(env).toEqual({ PORT: '7000', APP_ENV: 'staging', EXCLUDED_DOMAINS: 'a.example, b.example' });
  });

  it('loads the Python AutoTLS .env.example file', () => {
    const settings = loadSettingsFromProcess({ dotenvPath: writeEnv(PYTHON_ENV_EXAMPLE), env: {} });
    // The original itself opens instance/instance/tlstool.db with this line (Flask-SQLAlchemy 3, issue 14 item 9).
    expect(settings.database).toEqual({ url: 'file:./instance/instance/tlstool.db', provider: 'sqlite' });
    expect(settings.slack.enabled).toBe(false);
    expect(settings.acme.accountKeyInline).toBeUndefined();
  });

  it('an environment alias does not beat the canonical name from the file', () => {
    const settings = loadSettingsFromProcess({ dotenvPath: writeEnv('APP_ENV=staging\n'), env: { FLASK_ENV: 'local' } });
    expect(settings.appEnv).toBe('staging');
  });

  it('refuses a .env path that does not exist', () => {
    expect(() => loadSettingsFromProcess({ dotenvPath: join(dir, 'missing.env'), env: {} })).toThrow(ConfigError);
    try {
      loadSettingsFromProcess({ dotenvPath: join(dir, 'missing.env'), env: {} });
    } catch (error) {
      expect((error as ConfigError).problems[0]).toContain('missing.env: .env file not found');
    }
  });

  it('reports bad variables from the file like any other', () => {
    expect(() => loadSettingsFromProcess({ dotenvPath: writeEnv('PORT=0\n'), env: {} })).toThrow(/PORT: "0" must be a port number/);
  });
});

describe('parseDotenv', () => {
  it('keeps a # inside an unquoted value, as python-dotenv does', () => {
    expect(parseDotenv('DBPWD=pa#ss\nA=value # a comment\nB="quoted # kept"\nC=\'single#\'\nexport D=x#y\nE=#start\n# F=commented\n')).toEqual({
      DBPWD: 'pa#ss',
      A: 'value',
      B: 'quoted # kept',
      C: 'single#',
      D: 'x#y',
      E: '#start',
    });
  });

  it('reads quoted multi-line values', () => {
    expect(parseDotenv('KEY="-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"\n').KEY).toBe('-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----');
  });
});
