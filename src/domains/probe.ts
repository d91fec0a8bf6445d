/**
 * The live-certificate probe: what certificate does the domain actually serve?
 * It decides the `certificateStatus` of a domain in a run (seed semantics):
 *
 * - `ok`          a valid certificate (trusted chain, right name) that is not due;
 * - `renew`       our certificate is there but due (or expired);
 * - `new`         no usable certificate of ours: wrong names, another issuer on
 *                 record, an untrusted chain, or any connection/TLS failure;
 * - `unavailable` the peer accepted the connection and closed it without
 *                 presenting any certificate.
 *
 * Never throws and never hangs: one deadline covers connect and handshake.
 */
import { connect, type TLSSocket } from 'node:tls';
import { coversDomain, readCertificate, type CertificateInfo } from '../certificates/x509.js';
import { LETS_ENCRYPT_ISSUER } from './repository.js';

export type LiveCertificateStatus = 'ok' | 'renew' | 'new' | 'unavailable';


export const DEFAULT_PROBE_TIMEOUT_MS = 5000;

export interface ProbeOptions {
  /** The domain; always the SNI name and the name the certificate must cover. */
  domain: string;
  /** Where to connect (TLS_PROBE_HOST); default the domain itself. */
  host?: string;
  /** TLS_PROBE_PORT, usually 443. */
  port: number;
  /** Deadline for connect + handshake. */
  timeoutMs?: number;
  /** `domains.tls_issuer` from the database. */
  tlsIssuer: string | null | undefined;
  /** The renewal policy: is a certificate with this validity due now? */
  isDue: (notBefore: Date, notAfter: Date) => boolean;
  /** Trust anchors replacing the default store (private CAs, tests). */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface ProbeResult {
  status: LiveCertificateStatus;
  notBefore?: Date;
  notAfter?: Date;
  /** One line, safe to log, explaining the status. */
  detail: string;
}

/** Error codes meaning "the peer hung up before any certificate was sent". */
const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE']);

export function probeLiveCertificate(options: ProbeOptions): Promise<ProbeResult> {
  const host = options.host ?? options.domain;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const where = `${host}:${options.port}`;

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let socket: TLSSocket | undefined;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => {
      finish({ status: 'new', detail: `No TLS handshake with ${where} within ${timeoutMs} ms` });
    }, timeoutMs);

    try {
      socket = connect({
        host,
        port: options.port,
        servername: options.domain,
        rejectUnauthorized: false,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
      });
    } catch (error) {
      finish({ status: 'new', detail: `Cannot connect to ${where}: ${describe(error)}` });
      return;
    }
    const tlsSocket = socket;

    tlsSocket.once('secureConnect', () => {
      finish(evaluate(tlsSocket, options));
    });
    tlsSocket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code && CLOSED_CODES.has(error.code)) {
        finish({ status: 'unavailable', detail: `${where} closed the connection without presenting a certificate` });
      } else {
        finish({ status: 'new', detail: `TLS error from ${where}: ${describe(error)}` });
      }
    });
    tlsSocket.once('close', () => {
      finish({ status: 'unavailable', detail: `${where} closed the connection without presenting a certificate` });
    });
  });
}

function evaluate(socket: TLSSocket, options: ProbeOptions): ProbeResult {
  const peer = socket.getPeerX509Certificate();
  if (!peer) return { status: 'unavailable', detail: 'The server presented no certificate' };
  let cert: CertificateInfo;
  try {
    cert = readCertificate(peer);
  } catch {
    return { status: 'new', detail: 'The server presented an unreadable certificate' };
  }
  const notAfter = cert.notAfter;
  const expiry = `expires ${notAfter.toISOString()}`;

  if (!coversDomain(cert, options.domain)) {
    return { status: 'new', notAfter, detail: `The served certificate does not cover ${options.domain} (names: ${cert.dnsNames.join(', ') || cert.commonName || 'none'})` };
  }
  if (options.tlsIssuer !== LETS_ENCRYPT_ISSUER) {
    return { status: 'new', notAfter, detail: `The recorded issuer is ${options.tlsIssuer ? `"${options.tlsIssuer}"` : 'unset'}, not ${LETS_ENCRYPT_ISSUER}; ${expiry}` };
  }
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? 'unknown verification error');
    // Our own certificate, merely expired: that is a renewal, not a new certificate.
    if (reason === 'CERT_HAS_EXPIRED') return { status: 'renew', notAfter, detail: `The served certificate has expired (${expiry})` };
    return { status: 'new', notAfter, detail: `The served certificate is not valid: ${reason}` };
  }
  if (options.isDue(cert.notBefore, notAfter)) {
    return { status: 'renew', notAfter, detail: `The certificate is due for renewal (${expiry})` };
  }
  return { status: 'ok', notBefore: cert.notBefore, notAfter, detail: `A valid certificate is in place (${expiry})` };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}
