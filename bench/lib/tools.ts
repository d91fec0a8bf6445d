// Debian packages of the comparison clients: installed by the harness when
// missing (certbot 2.1.0 + python3-certbot-dns-rfc2136, lego 4.9.1 on Debian 12).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { run } from '../../test/testbed/process.js';
import { log } from './util.js';

/** Whether a Debian package is installed (python3 on PATH may be another interpreter, e.g. pyenv's). */
function debInstalled(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
  } catch {
    return false;
  }
}

/** apt-get installs what is missing of certbot, its rfc2136 plugin and lego. */
export async function ensureTools(want: { certbot: boolean; lego: boolean }): Promise<void> {
  const need: string[] = [];
  if (want.certbot && !(existsSync('/usr/bin/certbot') && debInstalled('certbot'))) need.push('certbot');
  if (want.certbot && !debInstalled('python3-certbot-dns-rfc2136')) need.push('python3-certbot-dns-rfc2136');
  if (want.lego && !(existsSync('/usr/bin/lego') && debInstalled('lego'))) need.push('lego');
  if (need.length === 0) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`missing Debian packages: ${need.join(' ')}; install them: sudo apt-get install -y ${need.join(' ')}`);
  }
  log(`installing Debian packages: ${need.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['install', '-y', '-q', ...need], { env, timeoutMs: 600_000 });
  } catch {
    // The package lists may be missing or stale in a fresh container.
    await run('apt-get', ['update', '-q'], { env, timeoutMs: 600_000 });
    await run('apt-get', ['install', '-y', '-q', ...need], { env, timeoutMs: 600_000 });
  }
}

/** First line of `<bin> --version` (or `-version`), for the record. */
export function toolVersion(bin: string, flag = '--version'): string {
  try {
    const out = execFileSync(bin, [flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    return out.trim().split('\n')[0] ?? '';
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n')[0] ?? 'unknown';
  }
}

/** Debian package version, e.g. 4.9.1-1. */
export function debVersion(pkg: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'not installed';
  }
}
