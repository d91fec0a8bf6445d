import { Cron } from 'croner';
import { findTsigAlgorithm, SUPPORTED_TSIG_ALGORITHMS } from '../dns/tsig.js';
import { formatHostPort, splitHostPort, type HostPort } from '../util/host-port.js';
import { hasPrivateKey } from '../util/private-key.js';
import { validateDomainName } from '../util/domain-name.js';

/**
 * Parsers from one environment string to one typed value. They never see an
 * unset variable (empty values are unset and handled by the schema), and their
 * messages never repeat the value: whether the value may be quoted back to the
 * operator depends on whether the variable is a secret, which only the schema
 * knows. `Invalid.got` is the part of the input worth quoting when it may be.
 */
export class Invalid {
  constructor(
    /** What is wrong and what to do, without the offending value. */
    readonly problem: string,
    /** The offending part of the input (defaults to the whole value). */
    readonly got?: string,
  ) {}
}

export type Parser<T> = (raw: string) => T | Invalid;

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** `True`/`False` as the Python AutoTLS wrote them, and the usual spellings. */
export const parseBoolean: Parser<boolean> = (raw) => {
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return new Invalid('is not a boolean; use true or false (also accepted: 1/0, yes/no, on/off)');
};

export function parseInteger(min: number, max: number, what: string): Parser<number> {
  return (raw) => {
    if (!/^\d+$/.test(raw)) return new Invalid(`must be ${what}`);
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) return new Invalid(`must be ${what}`);
    return value;
  };
}

export const parsePositiveInteger = parseInteger(1, Number.MAX_SAFE_INTEGER, 'a whole number of at least 1');
export const parsePort = parseInteger(1, 65535, 'a port number from 1 to 65535');

/** Case-insensitive choice from a fixed list; `hints` maps known wrong values to advice. */
export function parseChoice<const T extends string>(
  choices: readonly T[],
  hints: Readonly<Record<string, string>> = {},
): Parser<T> {
  return (raw) => {
    const word = raw.toLowerCase();
    const found = choices.find((c) => c === word);
    if (found !== undefined) return found;
    const hint = hints[word];
    return new Invalid(hint ?? `is not supported; use one of ${choices.join(', ')}`);
  };
}

/** An absolute http(s) URL. `base` URLs lose trailing slashes so callers can append paths. */
export function parseHttpUrl(options: { example: string; base?: boolean }): Parser<string> {
  return (raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return new Invalid(`is not a valid URL; use an absolute http(s) URL such as ${options.example}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return new Invalid(`must be an http:// or https:// URL such as ${options.example}`);
    }
    return options.base === true ? raw.replace(/\/+$/, '') : raw;
  };
}

/**
 * `host`, `host:port`, `[v6]:port` or a bare IPv6 address; `defaultPort` applies
 * when the port is omitted (src/util/host-port.ts, shared with the DNS plugin).
 */
export function parseHostPortValue(raw: string, defaultPort: number): HostPort | Invalid {
  const usage = `must be host or host:port (IPv6 as [address]:port); the port defaults to ${defaultPort}`;
  const value = splitHostPort(raw, defaultPort);
  if (!('problem' in value)) return value;
  if (value.problem === 'port') return new Invalid(`has an invalid port; ${usage.replace('must be', 'use')}`, raw);
  return new Invalid(usage, raw);
}

export function parseHostPort(defaultPort: number): Parser<string> {
  return (raw) => {
    const value = parseHostPortValue(raw, defaultPort);
    return value instanceof Invalid ? value : formatHostPort(value);
  };
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** Comma-separated `host[:port]` list, normalised to `host:port`. */
export function parseHostPortList(defaultPort: number): Parser<string[]> {
  return (raw) => {
    const out: string[] = [];
    for (const item of splitList(raw)) {
      const value = parseHostPortValue(item, defaultPort);
      if (value instanceof Invalid) {
        return new Invalid(`is not host:port; list resolvers as host[:port],host[:port] (port ${defaultPort} when omitted)`, item);
      }
      out.push(formatHostPort(value));
    }
    return out;
  };
}

/** Comma-separated domain names: trimmed, without a trailing dot, checked and normalised as the API checks them (lower case, A-labels). */
export const parseDomainList: Parser<string[]> = (raw) => {
  const out: string[] = [];
  for (const item of splitList(raw)) {
    const name = validateDomainName(item.replace(/\.$/, ''));
    if (!name.ok) return new Invalid(`is not a domain name (${name.reason}); list names as example.com,example.org`, item);
    out.push(name.value);
  }
  return out;
};

/** A cron expression croner accepts (5 to 7 fields, or a nickname such as `@daily`). */
export const parseCron: Parser<string> = (raw) => {
  const usage = 'is not a valid cron expression; use five fields such as "0 3 * * *" (every day at 03:00) or a nickname such as @daily';
  // croner also accepts an ISO date as a one-shot trigger; that is not a schedule.
  const fields = raw.split(/\s+/).length;
  if (!raw.startsWith('@') && fields < 5) return new Invalid(usage);
  try {
    new Cron(raw, { paused: true }).stop();
  } catch {
    return new Invalid(usage);
  }
  return raw;
};

/** SCHEDULE: `continuous`, or a cron expression. */
export const parseSchedule: Parser<string> = (raw) => (raw.trim().toLowerCase() === 'continuous' ? 'continuous' : parseCron(raw));

const SIMPLE_EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export const parseEmail: Parser<string> = (raw) => {
  const address = raw.replace(/^mailto:/i, '');
  return SIMPLE_EMAIL.test(address) ? address : new Invalid('is not an e-mail address; use name@example.com');
};

/** A single token without spaces: names, ids, paths inside a secret store. */
export function parseToken(what: string): Parser<string> {
  return (raw) => (/\s/.test(raw) ? new Invalid(`must not contain spaces; use ${what}`) : raw);
}

/** Path prefix inside the secrets store; trailing slashes are dropped. */
export const parseSecretBasePath: Parser<string> = (raw) => {
  const path = raw.replace(/\/+$/, '');
  if (path.length === 0 || /\s/.test(path)) {
    return new Invalid('must be a secret name prefix without spaces such as pem-secret');
  }
  return path;
};

/**
 * lego's spelling (`hmac-sha256.`), with or without the trailing dot, checked
 * against the table the RFC2136 provider signs with (src/dns/tsig.ts).
 */
export const parseTsigAlgorithm: Parser<string> = (raw) => {
  const algorithm = findTsigAlgorithm(raw);
  if (algorithm === undefined) {
    const md5 = /^hmac-md5(\.sig-alg\.reg\.int)?\.?$/i.test(raw) ? ' (HMAC-MD5 must not be used: RFC 8945 §6)' : '';
    return new Invalid(`is not a supported TSIG algorithm${md5}; use one of ${SUPPORTED_TSIG_ALGORITHMS.join(', ')}`);
  }
  return `${algorithm}.`;
};

/** TSIG secrets are base64 (what `tsig-keygen` prints). */
export const parseBase64Secret: Parser<string> = (raw) =>
  /^[A-Za-z0-9+/]+={0,2}$/.test(raw) && raw.length % 4 === 0
    ? raw
    : new Invalid('is not base64; copy the secret exactly as tsig-keygen printed it');

/**
 * The inline ACME account key: a JWK JSON object or a PEM private key. The
 * Python AutoTLS example value `{}` means "not given" and yields undefined.
 */
export const parseAccountKey: Parser<string | undefined> = (raw) => {
  if (raw.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return new Invalid('is not valid JSON; give the account key as a JWK JSON object or a PEM private key, or leave it empty');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return new Invalid('must be a JWK JSON object or a PEM private key');
    }
    return Object.keys(parsed).length === 0 ? undefined : raw;
  }
  if (hasPrivateKey(raw)) return raw;
  return new Invalid('must be a JWK JSON object or a PEM private key (or empty)');
};

export interface DatabaseTarget {
  url: string;
  provider: 'sqlite' | 'postgresql';
}

const SQLITE_MEMORY = 'file::memory:';

/** SQLAlchemy's `sqlite:///relative` and `sqlite:////absolute` as Prisma's `file:` URL. */
function sqliteUrl(raw: string): DatabaseTarget | Invalid {
  const rest = raw.slice('sqlite:'.length);
  if (rest === '//' || rest === '///:memory:' || rest === ':memory:') return { url: SQLITE_MEMORY, provider: 'sqlite' };
  let path: string;
  if (rest.startsWith('////')) {
    path = rest.slice(3);
  } else if (rest.startsWith('///')) {
    const relative = rest.slice(3);
    path = relative.startsWith('./') || relative.startsWith('../') ? relative : `./${relative}`;
  } else if (rest.startsWith('//')) {
    return new Invalid('SQLite URLs name no host; use sqlite:///relative/path.db (three slashes) or sqlite:////absolute/path.db (four)');
  } else {
    path = rest;
  }
  if (path.length === 0 || path === './') return new Invalid('names no SQLite file; use file:./data/autotls.db or sqlite:///data/autotls.db');
  return { url: `file:${path}`, provider: 'sqlite' };
}

/**
 * A `SQLALCHEMY_DATABASE_URI` as the Python AutoTLS reads it: Flask-SQLAlchemy 3
 * resolves a relative SQLite path against the app's instance folder
 * (`<cwd>/instance/`), so `sqlite:///tlstool.db` is `instance/tlstool.db` and
 * `sqlite:///instance/tlstool.db` is `instance/instance/tlstool.db`. Absolute
 * paths (four slashes), in-memory databases and other schemes are unchanged.
 */
export function flaskSqlalchemyUri(raw: string): string {
  const relative = /^sqlite:\/\/\/(?!\/)(.+)$/i.exec(raw)?.[1];
  if (relative === undefined || relative === ':memory:') return raw;
  return `sqlite:///instance/${relative}`;
}

/**
 * `file:` and `sqlite:` mean SQLite; `postgres://`, `postgresql://` and
 * SQLAlchemy's `postgresql+driver://` mean PostgreSQL. The value may carry a
 * password, so messages name only the scheme.
 */
export const parseDatabaseUrl: Parser<DatabaseTarget> = (raw) => {
  const scheme = /^([a-z][a-z0-9.+-]*):/i.exec(raw)?.[1]?.toLowerCase();
  const supported = 'only SQLite (file:./data/autotls.db or sqlite:///path.db) and PostgreSQL (postgresql://user:password@host:5432/name) are supported';
  if (scheme === undefined) return new Invalid(`is not a database URL; ${supported}`);
  if (scheme === 'file') {
    return raw.length > 'file:'.length ? { url: raw, provider: 'sqlite' } : new Invalid('names no SQLite file; use file:./data/autotls.db');
  }
  if (scheme === 'sqlite') return sqliteUrl(raw);
  const [base] = scheme.split('+');
  if (base === 'postgres' || base === 'postgresql') {
    const url = `postgresql:${raw.slice(scheme.length + 1)}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return new Invalid('is not a valid PostgreSQL URL; use postgresql://user:password@host:5432/name (URL-encode special characters in the password)');
    }
    if (!url.startsWith('postgresql://') || parsed.hostname.length === 0) {
      return new Invalid('names no PostgreSQL host; use postgresql://user:password@host:5432/name');
    }
    return { url, provider: 'postgresql' };
  }
  return new Invalid(`uses "${base ?? scheme}", which AutoTLS does not support; ${supported}`);
};

/** `postgresql://USER:PWD@HOST:5432/NAME` from the Python AutoTLS's DB* variables. */
export function composePostgresUrl(parts: { user: string; password: string | undefined; host: string; name: string }): string {
  const credentials =
    parts.password === undefined
      ? encodeURIComponent(parts.user)
      : `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`;
  return `postgresql://${credentials}@${parts.host}/${encodeURIComponent(parts.name)}`;
}
