// A throwaway PKI made with openssl, for tests that need real certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCa {
  dir: string;
  certPem: string;
  certPath: string;
  keyPath: string;
  cleanup(): void;
}

export interface TestLeaf {
  certPem: string;
  keyPem: string;
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A self-signed CA (EC P-256) with a subject key identifier and no AKI, in a new temp dir. */
export function createTestCa(name = 'AutoTLS unit test CA'): TestCa {
  const dir = mkdtempSync(path.join(tmpdir(), 'autotls-pki-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    // No AKI on the self-signed root (OpenSSL 3 adds one by default), so tests can check that case too.
    '-addext', 'subjectKeyIdentifier=hash', '-addext', 'authorityKeyIdentifier=none'], dir);
  const certPath = path.join(dir, 'ca.pem');
  return { dir, certPath, keyPath: path.join(dir, 'ca.key'), certPem: readFileSync(certPath, 'utf8'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let counter = 0;

/**
 * A leaf signed by `ca`: `names` become the SAN dNSNames (the first is also the CN).
 * `serialHex` sets the serial. Validity is `days` from now, or explicit
 * `notBefore`/`notAfter` in openssl's YYYYMMDDHHMMSSZ form (through `openssl ca`,
 * since OpenSSL 3.0's `x509 -req` cannot backdate).
 */
export function createTestLeaf(ca: TestCa, opts: { names: string[]; serialHex?: string; days?: number; notBefore?: string; notAfter?: string }): TestLeaf {
  counter += 1;
  const base = `leaf${counter}`;
  const [first] = opts.names;
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${first ?? 'none'}`], ca.dir);
  writeFileSync(path.join(ca.dir, `${base}.ext`), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    ...(opts.names.length > 0 ? [`subjectAltName=${opts.names.map((n) => `DNS:${n}`).join(',')}`] : []),
    'authorityKeyIdentifier=keyid',
    '',
  ].join('\n'));
  if (opts.notBefore && opts.notAfter) {
    writeFileSync(path.join(ca.dir, `${base}.index`), '');
    writeFileSync(path.join(ca.dir, `${base}.serial`), `${(opts.serialHex ?? '1234').padStart(2, '0')}\n`);
    writeFileSync(path.join(ca.dir, `${base}.cnf`), [
      '[ca]', 'default_ca = test', '[test]', `database = ${base}.index`, `serial = ${base}.serial`, 'new_certs_dir = .',
      'certificate = ca.pem', 'private_key = ca.key', 'default_md = sha256', 'policy = any', 'unique_subject = no', 'copy_extensions = none',
      '[any]', 'commonName = supplied', '',
    ].join('\n'));
    openssl(['ca', '-batch', '-notext', '-config', `${base}.cnf`, '-startdate', opts.notBefore, '-enddate', opts.notAfter,
      '-extfile', `${base}.ext`, '-in', `${base}.csr`, '-out', `${base}.pem`], ca.dir);
  } else {
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${opts.serialHex ?? '1234'}`,
      '-days', String(opts.days ?? 30), '-extfile', `${base}.ext`, '-out', `${base}.pem`], ca.dir);
  }
  return { certPem: readFileSync(path.join(ca.dir, `${base}.pem`), 'utf8'), keyPem: readFileSync(path.join(ca.dir, `${base}.key`), 'utf8') };
}

/** The AKI keyIdentifier and serial as `openssl x509 -text` prints them (colon hex). */
export function opensslAkiAndSerial(certPem: string, dir: string): { aki: string; serial: string } {
  const file = path.join(dir, `inspect${++counter}.pem`);
  writeFileSync(file, certPem);
  const text = openssl(['x509', '-in', file, '-noout', '-text'], dir);
  const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/i.exec(text)?.[1] ?? '';
  const serialOut = openssl(['x509', '-in', file, '-noout', '-serial'], dir).trim(); // serial=8765...
  return { aki, serial: serialOut.replace(/^serial=/, '') };
}
