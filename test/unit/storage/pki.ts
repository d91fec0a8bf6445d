/**
 * Test certificates made with the openssl command line (node:crypto cannot sign
 * X.509): a root CA, an intermediate, and leaves for any set of names.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Leaf {
  keyPem: string;
  certPem: string;
  intermediatesPem: string;
  fullchain: string;
}

export interface TestPki {
  rootPem: string;
  intermediatePem: string;
  /** A leaf signed by the intermediate; an EC P-256 key unless told otherwise (RSA key generation is slow). */
  issue(domains: string[], options?: { keyType?: 'rsa' | 'ec'; days?: number; key?: string }): Leaf;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(keyType: 'rsa' | 'ec'): string {
  const pair =
    keyType === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'autotls-pki-'));
  let serial = 1;
  const write = (name: string, text: string) => writeFileSync(path.join(dir, name), text, { mode: 0o600 });
  const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');

  write('root.key', newKey('rsa'));
  openssl(
    ['req', '-x509', '-new', '-key', 'root.key', '-days', '3650', '-subj', '/CN=AutoTLS Test Root',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'root.pem'],
    dir,
  );
  write('int.key', newKey('rsa'));
  write('int.ext', 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', '-new', '-key', 'int.key', '-subj', '/CN=AutoTLS Test Intermediate', '-out', 'int.csr'], dir);
  openssl(
    ['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', String(serial++),
      '-days', '3650', '-extfile', 'int.ext', '-out', 'int.pem'],
    dir,
  );
  const rootPem = read('root.pem');
  const intermediatePem = read('int.pem');

  return {
    rootPem,
    intermediatePem,
    issue(domains, options = {}) {
      const n = serial++;
      const keyPem = options.key ?? newKey(options.keyType ?? 'ec');
      write(`leaf${n}.key`, keyPem);
      // One openssl run per leaf (`req -x509 -CA`, OpenSSL 3): the suite makes many of them.
      openssl(
        ['req', '-x509', '-new', '-key', `leaf${n}.key`, '-CA', 'int.pem', '-CAkey', 'int.key', '-set_serial', String(n),
          '-subj', `/CN=${domains[0]}`, '-days', String(options.days ?? 90),
          '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
          '-addext', 'extendedKeyUsage=serverAuth', '-addext', `subjectAltName=${domains.map((d) => `DNS:${d}`).join(',')}`,
          '-out', `leaf${n}.pem`],
        dir,
      );
      const certPem = read(`leaf${n}.pem`);
      return { keyPem, certPem, intermediatesPem: intermediatePem, fullchain: `${certPem}\n${intermediatePem}` };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
