/**
 * PKCS#10 certificate signing requests built with node:crypto alone.
 *
 * Sources: RFC 2986 (PKCS #10: CertificationRequest, CertificationRequestInfo,
 * the extensionRequest attribute) and RFC 5280 (Name, AlgorithmIdentifier,
 * SubjectPublicKeyInfo, Extensions, subjectAltName / GeneralName); the DER rules
 * are X.690's. The signature algorithm identifiers are RFC 4055 §5 (RSA: the
 * parameters are NULL) and RFC 5758 §3.2 (ECDSA: no parameters).
 *
 * Why not acme-client's `crypto.createCsr`: a CPU profile measured ~6 ms a CSR,
 * spent re-importing the PEM key three times through WebCrypto (the private key,
 * the public key twice) and building the request with @peculiar/x509 and asn1js.
 * Here the key is parsed at most once, the SubjectPublicKeyInfo is Node's own
 * DER export, and only the few DER types a request needs are encoded by hand: an
 * EC P-256 CSR from a KeyObject takes ~0.4 ms, mostly the SPKI export and the
 * signature. A PEM key costs OpenSSL 3.0's decoder ~0.7 ms more, which is why
 * newKeyAndCsr (keys.ts) hands over the KeyObject it generated.
 *
 * Unlike acme-client, the request carries no keyUsage extension (CAs choose the
 * key usage themselves; Let's Encrypt uses only a CSR's key and names) and
 * `altNames` is taken as given: the caller lists the common name there too.
 */
import { constants, createPrivateKey, createPublicKey, sign, type KeyObject, type SignKeyObjectInput } from 'node:crypto';

export interface CsrNames {
  /** The subject's commonName (encoded as UTF8String). */
  commonName: string;
  /** The subjectAltName dNSNames, in order (ASCII: A-labels for IDNs; wildcards allowed). */
  altNames: string[];
}

// ---- DER (X.690 §8 and §10): tag, definite length in the shortest form, content ----

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
// DER sorts the elements of a SET OF; every SET here holds exactly one, so there is nothing to sort.
const setOfOne = (item: Buffer): Buffer => tlv(0x31, item);
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const octetString = (content: Buffer): Buffer => tlv(0x04, content);
// The leading 00: no unused bits in the last byte (a signature is whole bytes).
const bitString = (content: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0x00]), content]));
const contextConstructed = (tagNumber: number, content: Buffer): Buffer => tlv(0xa0 | tagNumber, content);
const contextPrimitive = (tagNumber: number, content: Buffer): Buffer => tlv(0x80 | tagNumber, content);
const INTEGER_ZERO = Buffer.from([0x02, 0x01, 0x00]);
const NULL = Buffer.from([0x05, 0x00]);

/** An OBJECT IDENTIFIER: the first two arcs in one byte, then each arc in base 128, high bit set on all but its last byte. */
function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const septets = [arc & 0x7f];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) septets.unshift((high & 0x7f) | 0x80);
    bytes.push(...septets);
  }
  return tlv(0x06, Buffer.from(bytes));
}

// ---- The request (RFC 2986 §4) ----

const OID_COMMON_NAME = oid('2.5.4.3');
const OID_EXTENSION_REQUEST = oid('1.2.840.113549.1.9.14');
const OID_SUBJECT_ALT_NAME = oid('2.5.29.17');

interface SignatureScheme {
  /** The DER AlgorithmIdentifier of the request's signatureAlgorithm. */
  algorithmIdentifier: Buffer;
  hash: 'sha256' | 'sha384';
  options: Omit<SignKeyObjectInput, 'key'>;
}

const RSA_SHA256: SignatureScheme = {
  algorithmIdentifier: sequence(oid('1.2.840.113549.1.1.11'), NULL),
  hash: 'sha256',
  options: { padding: constants.RSA_PKCS1_PADDING },
};
// X.509 carries ECDSA signatures as DER Ecdsa-Sig-Value, not IEEE P1363 r||s (WebCrypto's form).
const ECDSA_BY_CURVE: Readonly<Record<string, SignatureScheme>> = {
  prime256v1: { algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.2')), hash: 'sha256', options: { dsaEncoding: 'der' } },
  secp384r1: { algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.3')), hash: 'sha384', options: { dsaEncoding: 'der' } },
};
// The sizes generateCertificateKey makes and Let's Encrypt accepts.
const RSA_MODULUS_LENGTHS: ReadonlySet<number> = new Set([2048, 3072, 4096]);

const SUPPORTED = 'RSA 2048/3072/4096, EC P-256, EC P-384';

/** The signature algorithm for `key`, or a refusal naming what the key is. */
function signatureSchemeFor(key: KeyObject): SignatureScheme {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (RSA_MODULUS_LENGTHS.has(bits)) return RSA_SHA256;
    throw new Error(`Unsupported CSR key: RSA ${bits} bits (supported: ${SUPPORTED})`);
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve';
    const scheme = ECDSA_BY_CURVE[curve];
    if (scheme) return scheme;
    throw new Error(`Unsupported CSR key: EC ${curve} (supported: ${SUPPORTED})`);
  }
  throw new Error(`Unsupported CSR key type: ${type ?? 'unknown'} (supported: ${SUPPORTED})`);
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName, here the one RDN CN=commonName. */
function subjectName(commonName: string): Buffer {
  return sequence(setOfOne(sequence(OID_COMMON_NAME, utf8String(commonName))));
}

/** A dNSName is an IA5String (RFC 5280 §4.2.1.6): ASCII only, so IDNs must come as A-labels. */
function dnsName(name: string): Buffer {
  if (!/^[\x21-\x7e]+$/.test(name)) throw new Error(`CSR dNSName must be non-empty printable ASCII (an A-label for an IDN): ${JSON.stringify(name)}`);
  return contextPrimitive(2, Buffer.from(name, 'ascii'));
}

/**
 * attributes [0] { extensionRequest SET { Extensions { subjectAltName } } }. The SAN is
 * non-critical: `critical` DEFAULT FALSE, and DER leaves a DEFAULT value out.
 */
function extensionRequest(altNames: string[]): Buffer {
  // GeneralNames is SIZE (1..MAX): an empty SAN would be malformed, and a CA would refuse it anyway.
  if (altNames.length === 0) throw new Error('A CSR needs at least one subjectAltName');
  const subjectAltName = sequence(OID_SUBJECT_ALT_NAME, octetString(sequence(...altNames.map(dnsName))));
  return contextConstructed(0, sequence(OID_EXTENSION_REQUEST, setOfOne(sequence(subjectAltName))));
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/**
 * A PEM PKCS#10 request for `names`, signed with `privateKey` (a KeyObject or a
 * PKCS#8 PEM): sha256WithRSAEncryption for RSA, ecdsa-with-SHA256 for P-256,
 * ecdsa-with-SHA384 for P-384. Any other key is refused.
 */
export function createCsr(privateKey: KeyObject | string, names: CsrNames): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (key.type !== 'private') throw new Error(`A CSR is signed with a private key, not a ${key.type} one`);
  const scheme = signatureSchemeFor(key);
  const info = sequence(
    INTEGER_ZERO,
    subjectName(names.commonName),
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    extensionRequest(names.altNames),
  );
  const signature = sign(scheme.hash, info, { key, ...scheme.options });
  return toPem(sequence(info, scheme.algorithmIdentifier, bitString(signature)));
}
