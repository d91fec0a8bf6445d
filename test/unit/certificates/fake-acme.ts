// A small ACME server (RFC 8555) on loopback HTTP for unit tests of the
// adapter's transport and order logic. It follows the RFC where the adapter
// depends on it:
// - every response carries a fresh Replay-Nonce (§6.5); HEAD newNonce is 200 (§7.2);
// - newOrder answers 201 with the order URL in Location (§7.4);
// - a POST-as-GET has an empty JWS payload (§6.3);
// - the account object carries an `orders` list URL when `orderList` is on
//   (§7.1.2.1; Pebble has one, Boulder does not);
// - finalize answers 200 with the order, whose `certificate` URL is then
//   downloaded as application/pem-certificate-chain (§7.4.2).
// It does not verify JWS signatures. Orders are `ready` at once (as when the
// CA reuses valid authorizations, §7.1.3), so no DNS is involved. Certificates
// have an EMPTY subject, as Let's Encrypt's tlsserver/shortlived profiles and
// Pebble 2.7 issue them.
import { webcrypto } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import type { ChallengePublisher } from '../../../src/dns/challenge.js';

/** Orders at the fake are ready at once: DNS is never touched. */
export const noDns: ChallengePublisher = {
  clearStale: () => Promise.reject(new Error('no DNS expected')),
  publish: () => Promise.reject(new Error('no DNS expected')),
  cleanup: () => Promise.resolve(),
};

export interface Injected {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Handle the request for real first, then answer with this (the CA acted, the answer was lost). */
  afterProcessing?: boolean;
  /** Never answer (a hung CA). */
  hang?: boolean;
}

interface Order {
  status: string;
  identifiers: Array<{ type: string; value: string }>;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  profile?: string;
  replaces?: string;
  expires: string;
}

export interface SeenRequest {
  method: string;
  resource: string;
  payload: Record<string, unknown> | undefined;
  status: number;
}

export class FakeAcme {
  base = '';
  readonly seen: SeenRequest[] = [];
  readonly orders = new Map<number, Order>();
  readonly certificates = new Map<number, string>();
  /** Directory contents beyond the required resources. */
  renewalInfo = false;
  profiles: Record<string, string> | undefined;
  orderList = false;
  /** Served instead of the issued chain (to test an unreadable download). */
  certificateOverride: string | undefined;
  private readonly injected: Array<{ resource: string; answer: Injected }> = [];
  private server!: Server;
  private nonce = 0;
  private nextOrder = 1;
  private ca!: webcrypto.CryptoKeyPair;
  private readonly hung = new Set<ServerResponse>();

  static async start(): Promise<FakeAcme> {
    const fake = new FakeAcme();
    fake.ca = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    fake.server = createServer((req, res) => { void fake.handle(req, res); });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.base = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  get directoryUrl(): string {
    return `${this.base}/dir`;
  }

  /** The next request for `resource` gets `answer`. */
  inject(resource: string, answer: Injected, times = 1): void {
    for (let i = 0; i < times; i += 1) this.injected.push({ resource, answer });
  }

  /** An order another run left ready at the CA (RFC 8555 §7.1.6). */
  seedOrder(names: string[], profile?: string): string {
    const n = this.nextOrder++;
    this.orders.set(n, {
      status: 'ready', identifiers: names.map((value) => ({ type: 'dns', value })), authorizations: [], finalize: `${this.base}/finalize/${n}`,
      expires: new Date(Date.now() + 86_400_000).toISOString(), ...(profile ? { profile } : {}),
    });
    return `${this.base}/order/${n}`;
  }

  count(resource: string): number {
    return this.seen.filter((r) => r.resource === resource).length;
  }

  reset(): void {
    this.seen.length = 0;
    this.injected.length = 0;
    this.orders.clear();
    this.renewalInfo = false;
    this.profiles = undefined;
    this.orderList = false;
    this.certificateOverride = undefined;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.base);
    const resource = url.pathname.split('/')[1] ?? '';
    const payload = decodePayload(Buffer.concat(chunks));
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}): void => {
      this.seen.push({ method: req.method ?? '', resource, payload, status });
      const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      const type = typeof body === 'string' ? 'application/pem-certificate-chain' : status >= 400 ? 'application/problem+json' : 'application/json';
      res.writeHead(status, { 'replay-nonce': `nonce-${++this.nonce}`, 'content-type': type, ...headers }).end(text);
    };
    const index = this.injected.findIndex((i) => i.resource === resource);
    const injected = index >= 0 ? this.injected.splice(index, 1)[0]?.answer : undefined;
    if (injected?.hang) {
      this.seen.push({ method: req.method ?? '', resource, payload, status: 0 });
      this.hung.add(res);
      return;
    }
    if (injected && !injected.afterProcessing) return send(injected.status, injected.body, injected.headers);
    const answer = await this.answer(req.method ?? 'GET', resource, url, payload);
    if (injected) return send(injected.status, injected.body, injected.headers);
    send(answer.status, answer.body, answer.headers);
  }

  private async answer(method: string, resource: string, url: URL, payload: Record<string, unknown> | undefined): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const id = Number(url.pathname.split('/')[2]);
    switch (resource) {
      case 'dir':
        return {
          status: 200,
          body: {
            newNonce: `${this.base}/nonce`, newAccount: `${this.base}/new-acct`, newOrder: `${this.base}/new-order`,
            ...(this.renewalInfo ? { renewalInfo: `${this.base}/renewal-info` } : {}),
            ...(this.profiles ? { meta: { profiles: this.profiles } } : {}),
          },
        };
      case 'nonce':
        return { status: method === 'HEAD' ? 200 : 204 };
      case 'new-acct':
        return { status: 200, body: { status: 'valid', ...(this.orderList ? { orders: `${this.base}/orders/1` } : {}) }, headers: { location: `${this.base}/acct/1` } };
      case 'new-order': {
        const n = this.nextOrder++;
        const order: Order = {
          status: 'ready',
          identifiers: (payload?.identifiers as Order['identifiers'] | undefined) ?? [],
          authorizations: [],
          finalize: `${this.base}/finalize/${n}`,
          expires: new Date(Date.now() + 86_400_000).toISOString(),
          ...(typeof payload?.profile === 'string' ? { profile: payload.profile } : {}),
          ...(typeof payload?.replaces === 'string' ? { replaces: payload.replaces } : {}),
        };
        this.orders.set(n, order);
        return { status: 201, body: order, headers: { location: `${this.base}/order/${n}` } };
      }
      case 'orders':
        return { status: 200, body: { orders: [...this.orders.keys()].map((n) => `${this.base}/order/${n}`) } };
      case 'order': {
        const order = this.orders.get(id);
        return order ? { status: 200, body: order } : { status: 404, body: { type: 'urn:ietf:params:acme:error:malformed', detail: 'no such order' } };
      }
      case 'finalize': {
        const order = this.orders.get(id);
        if (!order || order.status !== 'ready') return { status: 403, body: { type: 'urn:ietf:params:acme:error:orderNotReady', detail: `order is ${order?.status ?? 'unknown'}` } };
        const csr = new x509.Pkcs10CertificateRequest(Buffer.from(String(payload?.csr), 'base64url'));
        this.certificates.set(id, await this.issue(csr, order.identifiers.map((i) => i.value)));
        order.status = 'valid';
        order.certificate = `${this.base}/cert/${id}`;
        return { status: 200, body: order };
      }
      case 'cert':
        return { status: 200, body: this.certificateOverride ?? this.certificates.get(id) ?? '' };
      case 'renewal-info':
        return { status: 200, body: { suggestedWindow: { start: '2026-06-10T00:00:00Z', end: '2026-06-12T00:00:00Z' } } };
      default:
        return { status: 404, body: { type: 'urn:ietf:params:acme:error:malformed', detail: 'not found' } };
    }
  }

  private async issue(csr: x509.Pkcs10CertificateRequest, names: string[]): Promise<string> {
    const publicKey = await csr.publicKey.export(webcrypto);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: `7f${String(this.nextOrder).padStart(4, '0')}`,
      subject: '', // empty, as Let's Encrypt's tlsserver/shortlived profiles issue
      issuer: 'CN=Fake ACME CA',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 6 * 86_400_000),
      publicKey,
      signingKey: this.ca.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })), true),
        await x509.AuthorityKeyIdentifierExtension.create(this.ca.publicKey),
      ],
    }, webcrypto);
    return cert.toString('pem') + '\n';
  }
}

function decodePayload(body: Buffer): Record<string, unknown> | undefined {
  try {
    const jws = JSON.parse(body.toString('utf8')) as { payload?: unknown };
    if (typeof jws.payload !== 'string' || jws.payload === '') return undefined;
    return JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
