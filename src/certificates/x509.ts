/**
 * Reading certificates: the facts renewal decisions need (validity, names,
 * issuer), the ARI certificate identifier (RFC 9773 §4.1), and the one PEM
 * splitter of the project (splitPemCertificates, splitFullchain).
 *
 * @peculiar/x509 parses the certificate. Unlike Node's X509Certificate it reads
 * an empty subject (Let's Encrypt's tlsserver and shortlived profiles, Pebble
 * 2.7) as an empty name, and it exposes the Authority Key Identifier.
 */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
  type Extension,
  type Name,
} from '@peculiar/x509';

export interface CertificateInfo {
  /** Serial number as lower-case hex, without sign padding (e.g. `8765432100ab`). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject common name, when present. */
  commonName: string | undefined;
  /** dNSName entries of the subjectAltName extension, lower case. */
  dnsNames: string[];
  /** Issuer distinguished name (RFC 4514 form, e.g. `C=US, O=Let's Encrypt, CN=R10`). */
  issuer: string;
  /** Issuer common name, when present. */
  issuerCommonName: string | undefined;
  /** ARI CertID, undefined when the certificate has no AKI keyIdentifier. */
  certId: string | undefined;
}

export class CertificateParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateParseError';
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM bundle, in order, each ending with a newline. */
export function splitPemCertificates(pem: string): string[] {
  return (pem.replace(/\r\n?/g, '\n').match(PEM_CERTIFICATE) ?? []).map((block) => `${block.trim()}\n`);
}

/** The leaf (first certificate) and the rest of a fullchain PEM. */
export function splitFullchain(fullchainPem: string): { leafPem: string; intermediatesPem: string[] } {
  const [leafPem, ...intermediatesPem] = splitPemCertificates(fullchainPem);
  if (!leafPem) throw new CertificateParseError('No PEM certificate found in the chain');
  return { leafPem, intermediatesPem };
}

type CertificateInput = string | Buffer | NodeX509Certificate;

function parse(certificate: CertificateInput): X509Certificate {
  let der: Buffer;
  if (certificate instanceof NodeX509Certificate) der = certificate.raw;
  else if (typeof certificate === 'string') {
    const [first] = splitPemCertificates(certificate);
    if (!first) throw new CertificateParseError('No PEM certificate found');
    // Node decodes base64 several times faster than @peculiar/x509's own PEM reader.
    der = Buffer.from(first.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64');
  } else der = certificate;
  try {
    return new X509Certificate(der);
  } catch (error) {
    throw new CertificateParseError(`Unparseable X.509 certificate (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

/** Reads an extension, turning a malformed one into a CertificateParseError. */
function extension<T extends Extension>(cert: X509Certificate, type: new (raw: ArrayBuffer) => T, what: string): T | undefined {
  try {
    return cert.getExtension(type) ?? undefined;
  } catch (error) {
    throw new CertificateParseError(`Unreadable ${what} extension`, { cause: error });
  }
}

/**
 * The serial as the DER INTEGER's content octets. @peculiar/x509 gives it as hex
 * without the sign octet; DER keeps a leading 00 when the high bit would
 * otherwise be set (RFC 9773 §4.1 needs those octets exactly).
 */
function serialContent(cert: X509Certificate): Buffer {
  const hex = cert.serialNumber.length % 2 === 1 ? `0${cert.serialNumber}` : cert.serialNumber;
  const bytes = Buffer.from(hex, 'hex');
  return bytes.length > 0 && (bytes[0] as number) >= 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function authorityKeyId(cert: X509Certificate): Buffer | undefined {
  const keyId = extension(cert, AuthorityKeyIdentifierExtension, 'Authority Key Identifier')?.keyId;
  return keyId ? Buffer.from(keyId, 'hex') : undefined;
}

/** The first value of `field` (e.g. CN) in a name; undefined for an empty subject, as Let's Encrypt's modern profiles issue. */
function nameField(name: Name, field: string): string | undefined {
  return name.getField(field)[0];
}

/** Parses the first certificate of a PEM (a leaf or a fullchain), or a DER buffer. */
export function readCertificate(certificate: CertificateInput): CertificateInfo {
  const cert = parse(certificate);
  const serial = serialContent(cert);
  const aki = authorityKeyId(cert);
  const san = extension(cert, SubjectAlternativeNameExtension, 'subjectAltName');
  return {
    serial: serialHex(serial),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    commonName: nameField(cert.subjectName, 'CN'),
    dnsNames: (san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value.toLowerCase()),
    issuer: cert.issuer,
    issuerCommonName: nameField(cert.issuerName, 'CN'),
    certId: aki ? makeCertId(aki, serial) : undefined,
  };
}

/**
 * The ARI CertID of a certificate: base64url(AKI keyIdentifier) "." base64url(serial),
 * where the serial is the DER INTEGER's content octets (a leading 00 stays when the
 * high bit would otherwise be set). Throws when the certificate has no AKI.
 */
export function ariCertId(certificate: CertificateInput): string {
  const cert = parse(certificate);
  const aki = authorityKeyId(cert);
  if (!aki) throw new CertificateParseError('Certificate has no Authority Key Identifier keyIdentifier; ARI is not possible');
  return makeCertId(aki, serialContent(cert));
}

function makeCertId(keyIdentifier: Buffer, serial: Buffer): string {
  return `${keyIdentifier.toString('base64url')}.${serial.toString('base64url')}`;
}

/**
 * Whether a certificate with these names is valid for `domain`: an exact dNSName,
 * or a wildcard `*.<parent>` where `domain` is exactly one label below `<parent>`.
 * The CN counts only when the certificate has no dNSName at all (legacy certificates).
 */
export function coversDomain(cert: Pick<CertificateInfo, 'dnsNames' | 'commonName'>, domain: string): boolean {
  const wanted = domain.toLowerCase().replace(/\.$/, '');
  const names = cert.dnsNames.length > 0 ? cert.dnsNames : cert.commonName ? [cert.commonName] : [];
  return names.some((raw) => {
    const name = raw.toLowerCase().replace(/\.$/, '');
    if (name === wanted) return true;
    if (!name.startsWith('*.')) return false;
    const dot = wanted.indexOf('.');
    return dot > 0 && wanted.slice(dot + 1) === name.slice(2);
  });
}

function serialHex(content: Buffer): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start += 1;
  return content.subarray(start).toString('hex');
}
