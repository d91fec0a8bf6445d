import { expect } from 'vitest';
import { ConfigError, loadSettings } from '../../../src/config/index.js';

export type Env = Record<string, string | undefined>;

/** The ConfigError `loadSettings(env)` throws; fails the test when it does not throw one. */
export function configError(env: Env): ConfigError {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

/**
 * Asserts that `env` is refused with exactly one problem line about `variable`
 * (which names it first), that the line is part of the message, and that no
 * `hidden` value appears anywhere in the error. Returns the line.
 */
export function expectProblem(env: Env, variable: string, options: { includes?: string[]; hidden?: string[] } = {}): string {
  const error = configError(env);
  const lines = error.problems.filter((line) => line.startsWith(`${variable}:`) || line.startsWith(`${variable} (`));
  expect(lines, `problems: ${JSON.stringify(error.problems)}`).toHaveLength(1);
  const line = lines[0] ?? '';
  expect(error.message).toContain(line);
  for (const text of options.includes ?? []) expect(line).toContain(text);
  for (const secret of options.hidden ?? []) {
    expect(error.message).not.toContain(secret);
    for (const problem of error.problems) expect(problem).not.toContain(secret);
  }
  return line;
}

/** The Python AutoTLS `.env.example`, verbatim. */
export const PYTHON_ENV_EXAMPLE = `FLASK_ENV=local
FLASK_SECRET_KEY=
APPLICATION_ROOT=/
SESSION_COOKIE_PATH=/
FLASK_APP=tlstool
FLASK_DEBUG=True
SQLALCHEMY_DATABASE_URI=sqlite:///instance/tlstool.db
DBNAME=
DBHOST=
DBUSER=
DBPWD=
AWS_ACCESS_KEY=
AWS_SECRET_KEY=
AWS_REGION_NAME=
FASTLY_API_TOKEN=
FASTLY_TLS_CONFIGURATION_ID=
LE_DIRECTORY_URL=https://acme-staging-v02.api.letsencrypt.org/directory
LE_ACCOUNT_KEY_SECRET_NAME=
LE_ACCOUNT_KEY_SECRET={}
ENABLE_SLACK_NOTIFICATIONS=False
SLACK_WEBHOOK_KEY=
SLACK_WORKSPACE_ID=
SLACK_BOT_TOKEN=
PEM_SECRET_BASE_PATH=pem-secret
RENEWAL_WINDOW_DAYS=15
`;

/** The same file as a production deployment fills it in. */
export const PYTHON_ENV_FILLED = `FLASK_ENV=production
FLASK_SECRET_KEY=7f3c9a1e5b2d8f4a6c0e1b3d5f7a9c2e
APPLICATION_ROOT=/
SESSION_COOKIE_PATH=/
FLASK_APP=tlstool
FLASK_DEBUG=False
SQLALCHEMY_DATABASE_URI=
DBNAME=autotls
DBHOST=db.internal.example.com
DBUSER=tlstool
DBPWD=p@ss:w/rd#1
AWS_ACCESS_KEY=AKIAIOSFODNN7EXAMPLE
AWS_SECRET_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
AWS_REGION_NAME=us-west-2
FASTLY_API_TOKEN=fastly-token-0123456789
FASTLY_TLS_CONFIGURATION_ID=t1sC0nf1g
LE_DIRECTORY_URL=https://acme-v02.api.letsencrypt.org/directory
LE_ACCOUNT_KEY_SECRET_NAME=letsencrypt/account-key
LE_ACCOUNT_KEY_SECRET={}
ENABLE_SLACK_NOTIFICATIONS=True
SLACK_WEBHOOK_KEY=B01234567/abcdefghijklmnopqrstuvwx
SLACK_WORKSPACE_ID=T01234567
SLACK_BOT_TOKEN=xoxb-1234-5678-abcdef
PEM_SECRET_BASE_PATH=pem-secret
RENEWAL_WINDOW_DAYS=20
`;
