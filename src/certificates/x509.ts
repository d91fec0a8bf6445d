/**
 * Reading certificates: the facts renewal decisions need (validity, names,
 * issuer), the ARI certificate identifier (RFC 9773 §4.1), and the one PEM
 * splitter of the project (splitPemCertificates, splitFullchain).
 *
 * The DER is read here (./der.ts), only for the fields AutoTLS uses. Unlike Node's
 * X509Certificate this reads an empty subject (Let's Encrypt's tlsserver and
 * shortlived profiles, Pebble 2.7) as an empty name and gives the Authority Key
 * Identifier; unlike @peculiar/x509 it builds no object tree (0.5–2 ms a
 * certificate there, a seventh of an issuance's CPU in the lifecycle simulator).
 */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { children, oidOf, readElement, readWhole, stringOf, TAG, timeOf, type Element } from './der.js';

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
  // Node decodes the base64 itself.
  return Buffer.from(first.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64');
}

/**
 * What was read from the certificates seen last, by DER. One issuance reads the
 * same certificate several times (the flow after download, the Fastly upload,
 * the probe, the recorded material). Bounded, oldest out first.
 */
const READ_CACHE_SIZE = 256;
interface Read {
  info: CertificateInfo;
  /** A malformed subjectAltName: readCertificate throws it, ariCertId does not need it. */
  sanError?: CertificateParseError;
}
const readCache = new Map<string, Read>();
let parsed = 0;

/** How many certificates were parsed rather than served from the cache since start-up. */
export function certificatesParsed(): number {
  return parsed;
}

function readCached(certificate: CertificateInput): Read {
  const der = derOf(certificate);
  const key = der.toString('base64');
  const hit = readCache.get(key);
  if (hit) return hit;
  const entry = read(der);
  parsed += 1;
  if (readCache.size >= READ_CACHE_SIZE) readCache.delete(readCache.keys().next().value as string);
  readCache.set(key, entry);
  return entry;
}

const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const OID_COMMON_NAME = '2.5.4.3';
/** Short names of attribute types in the issuer's name (RFC 4514 §3, and E as OpenSSL prints it). */
const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'E',
};

/**
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }, and
 * TBSCertificate (RFC 5280 §4.1): version [0], serialNumber, signature, issuer,
 * validity, subject, subjectPublicKeyInfo, issuerUniqueID [1], subjectUniqueID [2],
 * extensions [3].
 */
function read(der: Buffer): Read {
  let serial: Buffer;
  let issuer: Array<[string, string]>;
  let subject: Array<[string, string]>;
  let notBefore: Date;
  let notAfter: Date;
  let extensions: Map<string, Buffer>;
  try {
    const certificate = readWhole(der);
    const [tbsElement] = certificate.tag === TAG.SEQUENCE ? children(certificate.content) : [];
    if (tbsElement?.tag !== TAG.SEQUENCE) throw new Error('not a certificate');
    const tbs = children(tbsElement.content);
    const [serialElement, , issuerElement, validity, subjectElement] = tbs.slice(tbs[0]?.tag === 0xa0 ? 1 : 0);
    if (serialElement?.tag !== TAG.INTEGER || !issuerElement || validity?.tag !== TAG.SEQUENCE || !subjectElement) throw new Error('not a certificate');
    serial = serialElement.content;
    const [from, until] = children(validity.content);
    if (!from || !until) throw new Error('no validity');
    notBefore = timeOf(from);
    notAfter = timeOf(until);
    issuer = nameOf(issuerElement);
    subject = nameOf(subjectElement);
    extensions = extensionsOf(tbs.find((e) => e.tag === 0xa3));
  } catch (error) {
    throw new CertificateParseError(`Unparseable X.509 certificate (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  let dnsNames: string[] = [];
  let sanError: CertificateParseError | undefined;
  const san = extensions.get(OID_SUBJECT_ALT_NAME);
  if (san) {
    try {
      // GeneralNames ::= SEQUENCE OF GeneralName; dNSName is [2] IA5String.
      dnsNames = children(readWhole(san).content)
        .filter((n) => n.tag === 0x82)
        .map((n) => n.content.toString('latin1').toLowerCase());
    } catch (error) {
      sanError = new CertificateParseError('Unreadable subjectAltName extension', { cause: error });
    }
  }
  const commonName = (name: Array<[string, string]>): string | undefined => name.find(([type]) => type === OID_COMMON_NAME)?.[1];
  const info: CertificateInfo = {
    serial: serialHex(serial),
    notBefore,
    notAfter,
    commonName: commonName(subject),
    dnsNames,
    issuer: issuer.map(([type, value]) => `${ATTRIBUTE_NAMES[type] ?? type}=${value.replace(/[,+"\\<>;]/g, (c) => `\\${c}`)}`).join(', '),
    issuerCommonName: commonName(issuer),
    certId: undefined,
  };
  const aki = extensions.get(OID_AUTHORITY_KEY_ID);
  if (aki) {
    let keyId: Buffer | undefined;
    try {
      // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
      keyId = children(readWhole(aki).content).find((e) => e.tag === 0x80)?.content;
    } catch (error) {
      throw new CertificateParseError('Unreadable Authority Key Identifier extension', { cause: error });
    }
    // The serial as the INTEGER's content octets: DER keeps a leading 00 when the high bit would otherwise be set (RFC 9773 §4.1).
    if (keyId && keyId.length > 0) info.certId = makeCertId(keyId, serial);
  }
  return sanError ? { info, sanError } : { info };
}

/** A Name's attributes in order, as [type OID, value]; empty for an empty subject. */
function nameOf(name: Element): Array<[string, string]> {
  if (name.tag !== TAG.SEQUENCE) throw new Error('not a Name');
  const out: Array<[string, string]> = [];
  for (const rdn of children(name.content)) {
    for (const attribute of children(rdn.content)) {
      const [type, value] = children(attribute.content);
      if (!type || !value) throw new Error('bad attribute in a Name');
      out.push([oidOf(type), stringOf(value)]);
    }
  }
  return out;
}

/** The extensions' extnValue contents by OID; empty when the certificate has none. */
function extensionsOf(wrapper: Element | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!wrapper) return out;
  for (const extension of children(readElement(wrapper.content).content)) {
    const parts = children(extension.content);
    const id = parts[0];
    const value = parts.at(-1);
    if (!id || value?.tag !== TAG.OCTET_STRING) throw new Error('bad extension');
    out.set(oidOf(id), value.content);
  }
  return out;
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
