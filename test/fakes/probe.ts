/**
 * The live-certificate probe (src/domains/probe.ts) against the in-memory
 * Fastly: the certificate a handshake would get is the newest enabled bulk
 * certificate covering the name. It applies the probe's own rules (evaluate()):
 * wrong names or another recorded issuer give `new`, an expired certificate of
 * ours `renew`, a due one `renew`, else `ok`.
 */
import type { Clock } from '../../src/clock.js';
import { LETS_ENCRYPT_ISSUER } from '../../src/domains/repository.js';
import type { Probe } from '../../src/orchestrator/domain-flow.js';
import type { MemoryFastly } from './memory-fastly.js';

export function fastlyProbe(fastly: MemoryFastly, clock: Clock): Probe {
  return async (domain, tlsIssuer, isDue) => {
    const served = fastly.servedCertificate(domain);
    if (!served) return { status: 'new', detail: `No certificate is served for ${domain}` };
    const expiry = `expires ${served.notAfter.toISOString()}`;
    if (tlsIssuer !== LETS_ENCRYPT_ISSUER) return { status: 'new', notAfter: served.notAfter, detail: `The recorded issuer is not ${LETS_ENCRYPT_ISSUER}; ${expiry}` };
    if (served.notAfter.getTime() <= clock.now().getTime()) return { status: 'renew', notAfter: served.notAfter, detail: `The served certificate has expired (${expiry})` };
    if (isDue(served.notBefore, served.notAfter)) return { status: 'renew', notAfter: served.notAfter, detail: `The certificate is due for renewal (${expiry})` };
    return { status: 'ok', notBefore: served.notBefore, notAfter: served.notAfter, detail: `A valid certificate is in place (${expiry})` };
  };
}
