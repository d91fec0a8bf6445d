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

/** The DER of the first certificate of a PEM, a DER buffer, or a Node certificate. */
function derOf(certificate: CertificateInput): Buffer {
  if (certificate instanceof NodeX509Certificate) return certificate.raw;
  if (typeof certificate !== 'string') return certificate;
  const [first] = splitPemCertificates(certificate);
  if (!first) throw new CertificateParseError('No PEM certificate found');
  // Node decodes base64 several times faster than @peculiar/x509's own PEM reader.
  return Buffer.from(first.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64');
}

function parse(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (error) {
    throw new CertificateParseError(`Unparseable X.509 certificate (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

/**
 * What was read from the certificates seen last, by DER. One issuance reads the
 * same certificate several times (the flow after download, the Fastly upload,
 * the probe, the recorded material), and @peculiar/x509 costs 0.5-2 ms a parse;
 * at fleet size that was a third of the flow's CPU. Bounded, oldest out first.
 */
const READ_CACHE_SIZE = 256;
interface Read {
  info: CertificateInfo;
  /** A malformed subjectAltName: readCertificate throws it, ariCertId does not need it. */
  sanError?: CertificateParseError;
}
const readCache = new Map<string, Read>();

function readCached(certificate: CertificateInput): Read {
  const der = derOf(certificate);
  const key = der.toString('base64');
  const hit = readCache.get(key);
  if (hit) return hit;
  const cert = parse(der);
  const serial = serialContent(cert);
  const aki = authorityKeyId(cert);
  let san: SubjectAlternativeNameExtension | undefined;
  let sanError: CertificateParseError | undefined;
  try {
    san = extension(cert, SubjectAlternativeNameExtension, 'subjectAltName');
  } catch (error) {
    sanError = error as CertificateParseError;
  }
  const info: CertificateInfo = {
    serial: serialHex(serial),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    commonName: nameField(cert.subjectName, 'CN'),
    dnsNames: (san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value.toLowerCase()),
    issuer: cert.issuer,
    issuerCommonName: nameField(cert.issuerName, 'CN'),
    certId: aki ? makeCertId(aki, serial) : undefined,
  };
  const entry: Read = sanError ? { info, sanError } : { info };
  if (readCache.size >= READ_CACHE_SIZE) readCache.delete(readCache.keys().next().value as string);
  readCache.set(key, entry);
  return entry;
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
  const { info, sanError } = readCached(certificate);
  if (sanError) throw sanError;
  // A copy: callers own what they get (the cache keeps its own).
  return { ...info, notBefore: new Date(info.notBefore), notAfter: new Date(info.notAfter), dnsNames: [...info.dnsNames] };
}

/**
 * The ARI CertID of a certificate: base64url(AKI keyIdentifier) "." base64url(serial),
 * where the serial is the DER INTEGER's content octets (a leading 00 stays when the
 * high bit would otherwise be set). Throws when the certificate has no AKI.
 */
export function ariCertId(certificate: CertificateInput): string {
  const { info } = readCached(certificate);
  if (info.certId === undefined) throw new CertificateParseError('Certificate has no Authority Key Identifier keyIdentifier; ARI is not possible');
  return info.certId;
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
