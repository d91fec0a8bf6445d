/**
 * The two ACME calls that are not idempotent, sent so that a lost answer never
 * costs a second order or a second issuance:
 *
 * - newOrder: after a 5xx or a failure with no answer the CA may have created
 *   the order. When the account has an order list (RFC 8555 §7.1.2.1; Pebble
 *   has one), it is read first: a pending or ready order for the same names is
 *   taken over, and only when there is none is newOrder sent again. Without a
 *   list (Let's Encrypt: Boulder does not implement it) the step fails, saying
 *   the order may exist. Boulder's RA reuses an unexpired pending or ready order
 *   of the same account for the same names (ra.NewOrder → SA.GetOrderForNames),
 *   so the next run's newOrder does not make a second order there either.
 * - finalize: after a 5xx or a lost answer the order is read again (POST-as-GET)
 *   and the CSR sent again only while it is still `ready`; `processing` or
 *   `valid` means the CA took it, and the caller polls on.
 */
import type { Logger } from '../logger.js';
import acme from 'acme-client';
import type { AcmeApiInternals, RawResponse } from './acme-internals.js';
import { orderListSchema, orderSchema, parseDocument, type AcmeOrder } from './acme-schemas.js';
import { isTransientStatus, pause, type AcmeTransport } from './acme-transport.js';
import { AcmeError, AcmeNetworkError, AcmeOrderError } from './errors.js';

export interface NewOrderPayload {
  identifiers: Array<{ type: string; value: string }>;
  profile?: string;
  replaces?: string;
}

/** The CA's answer to newOrder, or an order it had already created for the same request. */
export type Placed = { response: RawResponse } | { order: AcmeOrder };

/** More orders than this in the account's list, and we cannot tell whether ours is among them. */
const MAX_LISTED_ORDERS = 100;

export interface OrderPlacementDeps {
  logger: Logger | undefined;
  problemError: (step: string, response: RawResponse) => AcmeError;
  readOrder: (url: string, step: string) => Promise<AcmeOrder>;
}

function sameNames(a: Array<{ value: string }>, b: Array<{ value: string }>): boolean {
  const names = (list: Array<{ value: string }>) => list.map((i) => i.value.toLowerCase()).sort().join(' ');
  return names(a) === names(b);
}

export class OrderPlacement {
  /** The account's order list, when the CA offers one. */
  ordersUrl: string | undefined;

  constructor(
    private readonly api: AcmeApiInternals,
    private readonly transport: AcmeTransport,
    private readonly deps: OrderPlacementDeps,
  ) {}

  /** Sends newOrder at most once per answer it cannot be sure of (see the file comment). */
  place(payload: NewOrderPayload): Promise<Placed> {
    return this.sendAtMostOnce<Placed>(
      'newOrder',
      () => this.api.apiResourceRequest('newOrder', payload, []),
      (response) => ({ response }),
      async (failure) => {
        if (!this.ordersUrl) {
          const [type, detail] = failure instanceof AcmeOrderError ? [failure.problemType, `${failure.detail} (HTTP ${failure.httpStatus ?? '?'})`] : ['autotls:unknownOutcome', failure.message];
          throw new AcmeOrderError('newOrder', type, `${detail}; the order may exist at the CA and was not sent again (the account has no order list to look it up in)`, failure instanceof AcmeOrderError ? failure.httpStatus : undefined);
        }
        const order = await this.findOrder(payload);
        if (!order) {
          this.deps.logger?.info({ reason: failure.message }, 'ACME newOrder failed and the CA has no such order; sending it again');
          return 'again';
        }
        this.deps.logger?.warn({ orderUrl: order.url, reason: failure.message }, 'ACME newOrder failed but the CA had created the order; continuing with it');
        return { value: { order } };
      },
    );
  }

  /** Sends the CSR, again only while the order is still `ready`; the caller polls for `valid`. */
  finalize(order: AcmeOrder, csrPem: string): Promise<void> {
    return this.sendAtMostOnce<void>(
      'finalize',
      () => this.api.apiRequest(order.finalize, { csr: acme.crypto.getPemBodyAsB64u(csrPem) }, []),
      (response) => {
        if (response.status !== 200) throw this.deps.problemError('finalize', response);
      },
      async (failure) => {
        const current = await this.deps.readOrder(order.url, 'finalize');
        this.deps.logger?.info({ orderUrl: order.url, status: current.status, reason: failure.message }, 'ACME finalize failed; read the order again');
        if (current.status === 'ready') return 'again';
        if (current.status === 'invalid') throw new AcmeOrderError('finalize', current.error?.type ?? 'about:blank', current.error?.detail ?? 'the order became invalid');
        return { value: undefined };
      },
    );
  }

  /**
   * Sends a non-idempotent request. A definite answer goes to `onAnswer`. After a
   * 5xx or a failure with no answer, waits (Retry-After honoured, bounded), then
   * asks `recover` whether the CA acted on it: `{ value }` ends the step, 'again'
   * sends the request again, up to the transport's bounded attempts.
   */
  private async sendAtMostOnce<T>(
    step: string,
    send: () => Promise<RawResponse>,
    onAnswer: (response: RawResponse) => T,
    recover: (failure: AcmeError) => Promise<{ value: T } | 'again'>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      let response: RawResponse | undefined;
      let failure: AcmeError;
      try {
        response = await this.transport.sendOnce(send);
        if (!isTransientStatus(response.status)) return onAnswer(response);
        failure = this.deps.problemError(step, response);
      } catch (error) {
        if (!(error instanceof AcmeNetworkError)) throw error;
        failure = error;
      }
      const delay = this.transport.retryDelay(step, attempt, response);
      if (delay === undefined) throw failure;
      await pause(delay, this.transport.signal, step);
      const recovered = await recover(failure);
      if (recovered !== 'again') return recovered.value;
    }
  }

  /** A pending or ready order of this account for the same request, from the account's order list. */
  private async findOrder(payload: NewOrderPayload): Promise<AcmeOrder | undefined> {
    const response = await this.api.apiRequest(this.ordersUrl ?? '', null, []);
    if (response.status !== 200) throw this.deps.problemError('newOrder (reading the order list)', response);
    const urls = parseDocument(orderListSchema, response, 'newOrder (reading the order list)').orders;
    if (urls.length > MAX_LISTED_ORDERS) {
      throw new AcmeOrderError('newOrder', 'autotls:unknownOutcome', `the order may exist at the CA and was not sent again (the account lists ${urls.length} orders, too many to look it up in)`);
    }
    for (const url of [...urls].reverse()) {
      const response = await this.api.apiRequest(url, null, []);
      if (response.status !== 200) continue;
      const parsed = orderSchema.safeParse(response.data);
      if (!parsed.success) continue;
      const order = parsed.data;
      if (order.status !== 'pending' && order.status !== 'ready') continue;
      if (!sameNames(order.identifiers, payload.identifiers)) continue;
      if (order.profile !== undefined && order.profile !== payload.profile) continue;
      if (order.replaces !== undefined && order.replaces !== payload.replaces) continue;
      return { ...order, url };
    }
    return undefined;
  }
}
