import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/config/index.js';

const database = (env: Record<string, string>) => loadSettings(env).database;

describe('SQLite URLs', () => {
  it.each([
    ['file:./data/autotls.db', 'file:./data/autotls.db'],
    ['file:/var/lib/autotls/autotls.db', 'file:/var/lib/autotls/autotls.db'],
    ['sqlite:///instance/tlstool.db', 'file:./instance/tlstool.db'],
    ['sqlite:///./instance/tlstool.db', 'file:./instance/tlstool.db'],
    ['sqlite:///../shared/tlstool.db', 'file:../shared/tlstool.db'],
    ['sqlite:////var/lib/tlstool.db', 'file:/var/lib/tlstool.db'],
    ['sqlite:///:memory:', 'file::memory:'],
    ['sqlite://', 'file::memory:'],
    ['sqlite:./local.db', 'file:./local.db'],
    ['SQLITE:///Instance/TLS.db', 'file:./Instance/TLS.db'],
  ])('%s → %s', (given, url) => {
    expect(database({ DATABASE_URL: given })).toEqual({ url, provider: 'sqlite' });
  });
});

describe('PostgreSQL URLs', () => {
  it.each([
    ['postgresql://u:p@db:5432/autotls', 'postgresql://u:p@db:5432/autotls'],
    ['postgres://u:p@db/autotls', 'postgresql://u:p@db/autotls'],
    ['postgresql+psycopg2://u:p@db:5432/autotls?sslmode=require', 'postgresql://u:p@db:5432/autotls?sslmode=require'],
    ['postgresql+asyncpg://u@db/autotls', 'postgresql://u@db/autotls'],
  ])('%s → %s', (given, url) => {
    expect(database({ SQLALCHEMY_DATABASE_URI: given })).toEqual({ url, provider: 'postgresql' });
  });
});

describe('DBUSER + DBPWD + DBHOST + DBNAME', () => {
  it('compose postgresql://USER:PWD@HOST:5432/NAME', () => {
    expect(database({ DBUSER: 'tlstool', DBPWD: 'secret', DBHOST: 'db.example.com', DBNAME: 'autotls' })).toEqual({
      url: 'postgresql://tlstool:secret@db.example.com:5432/autotls',
      provider: 'postgresql',
    });
  });

  it('URL-encode user, password and name', () => {
    const { url } = database({ DBUSER: 'app@corp', DBPWD: 'p@ss:w/rd?#%& x', DBHOST: 'db', DBNAME: 'tls db' });
    expect(url).toBe('postgresql://app%40corp:p%40ss%3Aw%2Frd%3F%23%25%26%20x@db:5432/tls%20db');
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.username)).toBe('app@corp');
    expect(decodeURIComponent(parsed.password)).toBe('p@ss:w/rd?#%& x');
    expect(parsed.hostname).toBe('db');
  });

  it('take a port from DBHOST', () => {
    expect(database({ DBUSER: 'u', DBPWD: 'p', DBHOST: 'db.example.com:6543', DBNAME: 'n' }).url).toBe('postgresql://u:p@db.example.com:6543/n');
    expect(database({ DBUSER: 'u', DBPWD: 'p', DBHOST: '[::1]:6543', DBNAME: 'n' }).url).toBe('postgresql://u:p@[::1]:6543/n');
  });

  it('are ignored, with a warning, when a database URL is set', () => {
    const warnings: string[] = [];
    const settings = loadSettings(
      { SQLALCHEMY_DATABASE_URI: 'sqlite:///instance/tlstool.db', DBUSER: 'u', DBPWD: 'db-secret', DBHOST: 'db', DBNAME: 'n' },
      { onWarning: (w) => warnings.push(w) },
    );
    // Through the alias a relative path is under the instance folder, as Flask-SQLAlchemy 3 reads it (issue 14 item 9).
    expect(settings.database).toEqual({ url: 'file:./instance/instance/tlstool.db', provider: 'sqlite' });
    expect(warnings).toEqual(['SQLALCHEMY_DATABASE_URI is set, so DBUSER, DBPWD, DBHOST, DBNAME are ignored']);
  });

  it('all empty (the Python example) leave the default', () => {
    expect(database({ DBUSER: '', DBPWD: '', DBHOST: '', DBNAME: '' })).toEqual({ url: 'file:./data/autotls.db', provider: 'sqlite' });
  });
});
