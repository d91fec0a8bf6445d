/**
 * Waits until every expected TXT value is visible at a name on every server
 * the CA might ask (DNS_RESOLVERS, else the authoritative nameservers).
 *
 * Polls with short, growing intervals (50 ms, doubling, capped at 2 s) instead
 * of the fixed sleeps of certbot and lego: on a local primary the values are
 * usually there at the first or second poll.
 */
import type { Logger } from '../logger.js';
import type { DnsLookup } from './lookup.js';
import { DnsProviderError } from './provider.js';
import { sleep } from '../util/retry.js';
import { formatServer, type DnsServer } from './wire.js';

export interface PropagationConfig {
  /** DNS_PROPAGATION_CHECK; when false, waitForTxt returns at once. */
  enabled: boolean;
  /** DNS_PROPAGATION_TIMEOUT, in ms. */
  timeoutMs: number;
  initialIntervalMs?: number;
  maxIntervalMs?: number;
  /** Timeout of one query (never beyond the deadline). Default 2 s. */
  queryTimeoutMs?: number;
}

export interface ServerState {
  server: string;
  missing: string[];
  lastError?: string;
}

export class DnsPropagationError extends DnsProviderError {
  constructor(
    readonly fqdn: string,
    readonly pending: ServerState[],
    readonly servers: string[],
    timeoutMs: number,
  ) {
    const details = pending
      .map((s) => `${s.server} is missing ${s.missing.map((v) => `"${v}"`).join(', ')}${s.lastError ? ` (last error: ${s.lastError})` : ''}`)
      .join('; ');
    super(`TXT values at ${fqdn} not visible after ${Math.round(timeoutMs / 100) / 10} s on ${servers.join(', ')}: ${details}`);
    this.name = 'DnsPropagationError';
  }
}

export class PropagationChecker {
  private readonly initialIntervalMs: number;
  private readonly maxIntervalMs: number;
  private readonly queryTimeoutMs: number;

  constructor(
    private readonly config: PropagationConfig,
    private readonly lookup: DnsLookup,
    private readonly logger: Logger,
  ) {
    this.initialIntervalMs = config.initialIntervalMs ?? 50;
    this.maxIntervalMs = config.maxIntervalMs ?? 2_000;
    this.queryTimeoutMs = config.queryTimeoutMs ?? 2_000;
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** Resolves once every server shows all `values` at `fqdn`; throws DnsPropagationError at the deadline. */
  async waitForTxt(fqdn: string, values: string[], servers?: DnsServer[]): Promise<void> {
    if (!this.config.enabled) return;
    const started = performance.now();
    const deadline = started + this.config.timeoutMs;
    const targets = servers ?? (await this.lookup.serversFor(fqdn));
    const expected = [...new Set(values)];
    const pending = new Map<string, { server: DnsServer; state: ServerState }>(
      targets.map((server) => [formatServer(server), { server, state: { server: formatServer(server), missing: expected } }]),
    );
    let interval = this.initialIntervalMs;
    let polls = 0;
    for (;;) {
      polls++;
      const remaining = deadline - performance.now();
      const timeoutMs = Math.max(50, Math.min(this.queryTimeoutMs, remaining));
      await Promise.all(
        [...pending].map(async ([key, { server, state }]) => {
          try {
            const seen = new Set(await this.lookup.txt(server, fqdn, timeoutMs));
            state.missing = expected.filter((v) => !seen.has(v));
            delete state.lastError;
            if (state.missing.length === 0) pending.delete(key);
          } catch (error) {
            state.lastError = (error as Error).message;
          }
        }),
      );
      if (pending.size === 0) {
        this.logger.debug({ fqdn, polls, ms: Math.round(performance.now() - started), servers: targets.length }, 'TXT values visible');
        return;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new DnsPropagationError(fqdn, [...pending.values()].map((p) => p.state), targets.map(formatServer), this.config.timeoutMs);
      }
      await sleep(Math.min(interval, left));
      interval = Math.min(this.maxIntervalMs, interval * 2);
    }
  }
}
