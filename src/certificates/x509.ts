/**
 * Reading certificates: the facts renewal decisions need (validity, names,
 * issuer) and the ARI certificate identifier (RFC 9773 §4.1).
 *
 * Node's X509Certificate parses the certificate; the two things it does not
 * expose (the Authority Key Identifier and the raw serial INTEGER bytes) are
 * read from the DER with the small walker below.
 */
import { X509Certificate } from 'node:crypto';

export interface CertificateInfo {
  /** Serial number as lower-case hex, without sign padding (e.g. `8765432100ab`). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject common name, when present. */
  commonName: string | undefined;
  /** dNSName entries of the subjectAltName extension, lower case. */
  dnsNames: string[];
  /** Issuer distinguished name as Node prints it (one `K=V` per line). */
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

function toX509(certificate: string | Buffer | X509Certificate): X509Certificate {
  if (certificate instanceof X509Certificate) return certificate;
  try {
    if (typeof certificate === 'string') {
      const [first] = splitPemCertificates(certificate);
      if (!first) throw new CertificateParseError('No PEM certificate found');
      return new X509Certificate(first);
    }
    return new X509Certificate(certificate);
  } catch (error) {
    if (error instanceof CertificateParseError) throw error;
    throw new CertificateParseError('Unparseable X.509 certificate', { cause: error });
  }
}

/** Parses the first certificate of a PEM (a leaf or a fullchain), or a DER buffer. */
export function readCertificate(certificate: string | Buffer | X509Certificate): CertificateInfo {
  const cert = toX509(certificate);
  const der = readTbsFields(cert.raw);
  return {
    serial: serialHex(der.serial),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    commonName: distinguishedNameField(cert.subject, 'CN'),
    dnsNames: der.dnsNames,
    issuer: cert.issuer ?? '',
    issuerCommonName: distinguishedNameField(cert.issuer, 'CN'),
    certId: der.authorityKeyId ? makeCertId(der.authorityKeyId, der.serial) : undefined,
  };
}

/**
 * The ARI CertID of a certificate: base64url(AKI keyIdentifier) "." base64url(serial),
 * where the serial is the DER INTEGER's content octets (a leading 00 stays when the
 * high bit would otherwise be set). Throws when the certificate has no AKI.
 */
export function ariCertId(certificate: string | Buffer | X509Certificate): string {
  const der = readTbsFields(toX509(certificate).raw);
  if (!der.authorityKeyId) {
    throw new CertificateParseError('Certificate has no Authority Key Identifier keyIdentifier; ARI is not possible');
  }
  return makeCertId(der.authorityKeyId, der.serial);
}

function makeCertId(keyIdentifier: Buffer, serialContent: Buffer): string {
  return `${keyIdentifier.toString('base64url')}.${serialContent.toString('base64url')}`;
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

/** Node's X509Certificate gives `undefined` (despite its typings) for an empty subject, as Let's Encrypt's modern profiles issue. */
function distinguishedNameField(dn: string | undefined, key: string): string | undefined {
  for (const line of (dn ?? '').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq).trim() === key) return line.slice(eq + 1).trim();
  }
  return undefined;
}

function serialHex(content: Buffer): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start += 1;
  return content.subarray(start).toString('hex');
}

// --- a minimal DER reader, enough for the TBSCertificate fields above ---

interface DerElement {
  tag: number;
  /** The content octets. */
  value: Buffer;
  /** Offset of the byte following this element in the parent buffer. */
  end: number;
}

function readElement(buf: Buffer, offset: number): DerElement {
  if (offset + 2 > buf.length) throw new CertificateParseError('Truncated DER');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new CertificateParseError('Unsupported multi-byte DER tag');
  let length = buf[offset + 1] as number;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || offset + 2 + count > buf.length) throw new CertificateParseError('Bad DER length');
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + (buf[offset + 2 + i] as number);
    header += count;
  }
  const start = offset + header;
  const end = start + length;
  if (end > buf.length) throw new CertificateParseError('Truncated DER');
  return { tag, value: buf.subarray(start, end), end };
}

function children(buf: Buffer): DerElement[] {
  const out: DerElement[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const element = readElement(buf, offset);
    out.push(element);
    offset = element.end;
  }
  return out;
}

const TAG_SEQUENCE = 0x30;
const TAG_INTEGER = 0x02;
const TAG_OID = 0x06;
const TAG_OCTET_STRING = 0x04;
const TAG_EXPLICIT_VERSION = 0xa0;
const TAG_EXPLICIT_EXTENSIONS = 0xa3;
const TAG_KEY_IDENTIFIER = 0x80; // [0] IMPLICIT OCTET STRING inside AuthorityKeyIdentifier
const TAG_DNS_NAME = 0x82; // [2] IMPLICIT IA5String inside GeneralNames
const OID_AUTHORITY_KEY_ID = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35
const OID_SUBJECT_ALT_NAME = Buffer.from([0x55, 0x1d, 0x11]); // 2.5.29.17

interface TbsFields {
  serial: Buffer;
  authorityKeyId: Buffer | undefined;
  dnsNames: string[];
}

function readTbsFields(der: Buffer): TbsFields {
  const certificate = readElement(der, 0);
  if (certificate.tag !== TAG_SEQUENCE) throw new CertificateParseError('Certificate is not a DER SEQUENCE');
  const tbs = readElement(certificate.value, 0);
  if (tbs.tag !== TAG_SEQUENCE) throw new CertificateParseError('TBSCertificate is not a DER SEQUENCE');
  const fields = children(tbs.value);
  let index = fields[0]?.tag === TAG_EXPLICIT_VERSION ? 1 : 0;
  const serial = fields[index];
  if (!serial || serial.tag !== TAG_INTEGER) throw new CertificateParseError('Certificate serial is not an INTEGER');
  index += 1;

  let authorityKeyId: Buffer | undefined;
  let dnsNames: string[] = [];
  const extensionsWrapper = fields.find((f) => f.tag === TAG_EXPLICIT_EXTENSIONS);
  if (extensionsWrapper) {
    const extensions = readElement(extensionsWrapper.value, 0);
    for (const extension of children(extensions.value)) {
      const parts = children(extension.value);
      const oid = parts[0];
      const value = parts[parts.length - 1];
      if (!oid || oid.tag !== TAG_OID || !value || value.tag !== TAG_OCTET_STRING) continue;
      if (oid.value.equals(OID_AUTHORITY_KEY_ID)) {
        const aki = readElement(value.value, 0);
        authorityKeyId = children(aki.value).find((c) => c.tag === TAG_KEY_IDENTIFIER)?.value;
      } else if (oid.value.equals(OID_SUBJECT_ALT_NAME)) {
        const names = readElement(value.value, 0);
        dnsNames = children(names.value)
          .filter((c) => c.tag === TAG_DNS_NAME)
          .map((c) => c.value.toString('ascii').toLowerCase());
      }
    }
  }
  return { serial: Buffer.from(serial.value), authorityKeyId: authorityKeyId ? Buffer.from(authorityKeyId) : undefined, dnsNames };
}
