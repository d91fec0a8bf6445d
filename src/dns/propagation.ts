/**
 * Waits until every expected TXT value is visible at a name on every
 * authoritative nameserver of its zone, the servers a CA asks in the end.
 *
 * One answering address per nameserver is enough (as in lego): a nameserver
 * with an A and an AAAA is seen through whichever address answers, so an IPv6
 * address that cannot be reached (an IPv4-only host, the default Docker
 * network, IPv4-only ECS or EKS subnets) does not fail the wait (issue 14,
 * item 5). Its failures are only reported when no address of it answers.
 *
 * Polls with short, growing intervals (50 ms, doubling, capped at 2 s) instead
 * of the fixed sleeps of certbot and lego: on a local primary the values are
 * usually there at the first or second poll.
 */
import type { Logger } from '../logger.js';
import type { DnsLookup, Nameserver } from './lookup.js';
import { DnsProviderError } from './provider.js';
import { sleep } from '../util/retry.js';
import { formatServer } from './wire.js';

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

  /** Resolves once every nameserver shows all `values` at `fqdn`; throws DnsPropagationError at the deadline. */
  async waitForTxt(fqdn: string, values: string[], nameservers?: Nameserver[]): Promise<void> {
    if (!this.config.enabled) return;
    const started = performance.now();
    const deadline = started + this.config.timeoutMs;
    const targets = nameservers ?? (await this.lookup.serversFor(fqdn));
    const expected = [...new Set(values)];
    const pending = new Map<string, { nameserver: Nameserver; state: ServerState }>(
      targets.map((nameserver) => [nameserver.name, { nameserver, state: { server: label(nameserver), missing: expected } }]),
    );
    let interval = this.initialIntervalMs;
    let polls = 0;
    for (;;) {
      polls++;
      const remaining = deadline - performance.now();
      const timeoutMs = Math.max(50, Math.min(this.queryTimeoutMs, remaining));
      await Promise.all(
        [...pending].map(async ([key, { nameserver, state }]) => {
          const seen = await this.poll(nameserver, fqdn, expected, timeoutMs);
          if (seen.answered) {
            state.missing = seen.missing;
            delete state.lastError;
            if (seen.missing.length === 0) pending.delete(key);
          } else {
            state.lastError = seen.error;
          }
        }),
      );
      if (pending.size === 0) {
        this.logger.debug({ fqdn, polls, ms: Math.round(performance.now() - started), nameservers: targets.length }, 'TXT values visible');
        return;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new DnsPropagationError(fqdn, [...pending.values()].map((p) => p.state), targets.map(label), this.config.timeoutMs);
      }
      await sleep(Math.min(interval, left));
      interval = Math.min(this.maxIntervalMs, interval * 2);
    }
  }

  /**
   * Asks every address of one nameserver at once and settles as soon as one shows
   * every value (the slow or dead addresses are not waited for); otherwise when
   * all have answered or failed, with the fewest values missing among the answers.
   */
  private poll(
    nameserver: Nameserver,
    fqdn: string,
    expected: string[],
    timeoutMs: number,
  ): Promise<{ answered: true; missing: string[] } | { answered: false; error: string }> {
    const addresses = nameserver.addresses;
    if (addresses.length === 0) return Promise.resolve({ answered: false, error: `${nameserver.name} has no address` });
    return new Promise((resolve) => {
      let open = addresses.length;
      let missing: string[] | undefined;
      const errors: string[] = [];
      const settle = (): void => {
        if (--open > 0) return;
        if (missing) resolve({ answered: true, missing });
        else resolve({ answered: false, error: errors.join('; ') });
      };
      for (const address of addresses) {
        this.lookup.txt(address, fqdn, timeoutMs).then(
          (values) => {
            const seen = new Set(values);
            const absent = expected.filter((v) => !seen.has(v));
            if (absent.length === 0) resolve({ answered: true, missing: [] });
            if (!missing || absent.length < missing.length) missing = absent;
            settle();
          },
          (error: unknown) => {
            const message = (error as Error).message;
            errors.push(addresses.length === 1 ? message : `${formatServer(address)}: ${message}`);
            settle();
          },
        );
      }
    });
  }
}

/** `ns1.example.net (192.0.2.1:53, [2001:db8::1]:53)`, or just the address when the nameserver is one. */
function label(nameserver: Nameserver): string {
  const addresses = nameserver.addresses.map(formatServer);
  return addresses.length === 1 && addresses[0] === nameserver.name ? nameserver.name : `${nameserver.name} (${addresses.join(', ')})`;
}
