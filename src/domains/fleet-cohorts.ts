import type { Db } from '../db/client.js';
import type { Clock } from '../clock.js';
import { LETS_ENCRYPT_ISSUER } from './repository.js';

/** Certificates that fall due on the same day and expire on the same day (the capacity forecast's unit). */
export interface Cohort {
  /** When these certificates are due (their renewal time, or now for a domain with none). */
  dueAt: Date;
  /** When the current certificates expire; null for domains that have none yet. */
  expiresAt: Date | null;
  count: number;
}

const DAY_MS = 86_400_000;
/** Rows read per query: the fleet is walked in pages, never read at once. */
const PAGE_SIZE = 5_000;

export interface CohortOptions {
  excluded: readonly string[];
  /** The seed's window, for Let's Encrypt rows AutoTLS has no renewal time for. */
  windowDays: number;
}

/**
 * The fleet as forecast cohorts: eligible domains grouped by the day they fall
 * due and the day their certificate expires. Read in pages of ids, so memory
 * stays flat however large the fleet; the result has at most one entry per
 * (due day, expiry day) pair.
 */
export class FleetCohorts {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async read(options: CohortOptions): Promise<Cohort[]> {
    const now = this.clock.now().getTime();
    const excluded = new Set(options.excluded);
    const groups = new Map<string, Cohort>();
    const add = (dueAt: number, expiresAt: number | null): void => {
      const due = Math.max(now, dueAt);
      const dueDay = Math.floor(due / DAY_MS);
      const expiryDay = expiresAt === null ? 'none' : String(Math.floor(expiresAt / DAY_MS));
      const key = `${dueDay}/${expiryDay}`;
      const group = groups.get(key);
      if (group) {
        group.count++;
        // The group keeps its earliest instants, so no certificate is forecast later than it is.
        if (due < group.dueAt.getTime()) group.dueAt = new Date(due);
        if (expiresAt !== null && group.expiresAt && expiresAt < group.expiresAt.getTime()) group.expiresAt = new Date(expiresAt);
      } else {
        groups.set(key, { dueAt: new Date(due), expiresAt: expiresAt === null ? null : new Date(expiresAt), count: 1 });
      }
    };
    let after = 0;
    for (;;) {
      const page = await this.db.domain.findMany({
        where: {
          id: { gt: after },
          owned: true,
          NOT: [{ zoneId: null }, { zoneId: '' }],
          OR: [{ status: null }, { status: { notIn: ['Parked', 'Expired'] } }],
        },
        select: { id: true, name: true, tlsIssuer: true, tlsExpDate: true, state: { select: { nextRenewalAt: true, certNotAfter: true } } },
        orderBy: { id: 'asc' },
        take: PAGE_SIZE,
      });
      for (const row of page) {
        if (excluded.has(row.name)) continue;
        const expiresAt = row.state?.certNotAfter?.getTime() ?? row.tlsExpDate?.getTime() ?? null;
        if (row.tlsIssuer !== LETS_ENCRYPT_ISSUER) {
          // Not (yet) a Let's Encrypt certificate: a candidate now (contract section 4).
          add(now, expiresAt);
        } else {
          const renewal = row.state?.nextRenewalAt?.getTime() ?? (expiresAt === null ? now : expiresAt - options.windowDays * DAY_MS);
          add(renewal, expiresAt);
        }
      }
      if (page.length < PAGE_SIZE) break;
      after = (page.at(-1) as { id: number }).id;
    }
    return [...groups.values()];
  }
}
