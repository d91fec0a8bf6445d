import type { Logger } from '../logger.js';
import type { SecretsStore } from '../secrets/provider.js';
import type { IssuedCertificate } from '../certificates/issuer.js';
import type { KeyAndCsr } from '../certificates/keys.js';
import { ariCertId, readCertificate, splitFullchain } from '../certificates/x509.js';
import { errorMessage } from '../util/errors.js';

/**
 * The contract's three secrets, plus `pending`: the key and CSR of an order in
 * flight (JSON), kept only until the certificate is stored.
 */
export type SecretKind = 'private_key' | 'fullchain' | 'csr' | 'pending';

export function secretName(base: string, domain: string, kind: SecretKind): string {
  return `${base}/${domain}/${kind}`;
}

/** Key material as kept in the secrets store. */
export interface Material {
  privateKeyPem: string;
  fullchainPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  certId: string | undefined;
}

/** A domain's key material in the secrets store, under `<base>/<domain>/<kind>`. */
export class MaterialStore {
  constructor(
    private readonly secrets: SecretsStore,
    private readonly base: string,
    private readonly logger: Logger,
  ) {}

  /** Keeps the key and CSR of an order about to be placed, so that a crashed run can resume it. */
  async putPending(domain: string, keys: KeyAndCsr): Promise<void> {
    const tags = { Application: 'autotls', Domain: domain, Purpose: 'pending-order' };
    await this.secrets.put(secretName(this.base, domain, 'pending'), JSON.stringify(keys), tags);
  }

  /** The key and CSR an unfinished order was placed with; undefined when absent or unreadable. */
  async getPending(domain: string): Promise<KeyAndCsr | undefined> {
    return parsePendingKeys(await this.secrets.get(secretName(this.base, domain, 'pending')));
  }

  /** Stores an issued certificate with its key and CSR (contract section 5: before anything is uploaded). */
  async putIssued(domain: string, issued: IssuedCertificate): Promise<Material> {
    const tags = { Application: 'autotls', Domain: domain, Serial: issued.serial };
    await this.secrets.put(secretName(this.base, domain, 'private_key'), issued.privateKeyPem, tags);
    await this.secrets.put(secretName(this.base, domain, 'fullchain'), issued.fullchainPem, tags);
    await this.secrets.put(secretName(this.base, domain, 'csr'), issued.csrPem, tags);
    return {
      privateKeyPem: issued.privateKeyPem,
      fullchainPem: issued.fullchainPem,
      serial: issued.serial,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      certId: issued.certId,
    };
  }

  /** Drops the in-flight copy of the key once it lives in private_key (a leftover only costs a secret). */
  async deletePending(domain: string): Promise<void> {
    await this.secrets.delete(secretName(this.base, domain, 'pending')).catch((error: unknown) =>
      this.logger.warn({ domain, err: errorMessage(error) }, 'could not delete the pending-order secret'),
    );
  }

  /**
   * The stored key and certificate, read back; undefined when either secret is
   * missing. `certId` is the recorded one, else computed from the certificate.
   */
  async getStored(domain: string, recordedCertId: string | null): Promise<Material | undefined> {
    const [privateKeyPem, fullchainPem] = await Promise.all([
      this.secrets.get(secretName(this.base, domain, 'private_key')),
      this.secrets.get(secretName(this.base, domain, 'fullchain')),
    ]);
    if (!privateKeyPem || !fullchainPem) return undefined;
    const leafPem = splitFullchain(fullchainPem).leafPem;
    const info = readCertificate(leafPem);
    return { privateKeyPem, fullchainPem, serial: info.serial, notBefore: info.notBefore, notAfter: info.notAfter, certId: recordedCertId ?? ariCertId(leafPem) };
  }
}

function parsePendingKeys(value: string | undefined): KeyAndCsr | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<KeyAndCsr>;
    return typeof parsed.privateKeyPem === 'string' && typeof parsed.csrPem === 'string' ? { privateKeyPem: parsed.privateKeyPem, csrPem: parsed.csrPem } : undefined;
  } catch {
    return undefined;
  }
}
