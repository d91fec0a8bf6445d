import type { Clock } from '../clock.js';
import type { OrderBudget } from '../certificates/budget.js';
import type { DomainRepository } from './repository.js';
import type { DomainStateStore } from './state.js';
import type { UploadHold } from '../storage/upload-hold.js';

export interface PendingEventsOptions {
  excluded: readonly string[];
  windowDays: number;
  /** Fastly's write allowance: stored certificates wait for its reset, which is an event. */
  uploadHold?: UploadHold;
}

/**
 * How long a renewal time or an ARI check waits for the others that fall due
 * after it (continuous schedule). Both are soft times: a renewal time is a
 * moment picked inside the CA's suggested window (days wide for 45- and 64-day
 * certificates, hours for 160-hour ones), and RFC 9773 §4.3 lets a client ask
 * again any time after Retry-After (6 hours at Let's Encrypt), never before. At
 * fleet size something falls due every few seconds (10,000 certificates make
 * 40,000 ARI checks a day), so waking at each would mean a wake every 30 s
 * (the scheduler's floor), each paying the same queries before any work;
 * gathered, the checks of half an hour go out together, in full pages. The
 * other events are kept to the minute: a backoff's end, an account pause's
 * end, a budget refill, and work due now.
 */
export const GATHER_MS = 30 * 60_000;

/**
 * The earliest moment something needs AutoTLS (continuous schedule): work due
 * now, the end of a backoff or of an account pause, a budget refill, or (after
 * GATHER_MS) the next renewal time or ARI check. Each is one indexed query for
 * the minimum; nothing reads the fleet. Reads only, through the stores.
 */
export class PendingEvents {
  constructor(
    private readonly clock: Clock,
    private readonly repository: DomainRepository,
    private readonly state: DomainStateStore,
    private readonly budget: () => Promise<OrderBudget>,
    private readonly options: PendingEventsOptions,
  ) {}

  async nextEventAt(): Promise<Date | undefined> {
    const now = this.clock.now();
    const work = await this.work();
    if (work.dueNow) return now;
    const times = [...work.waits];
    const [{ renewalAt, backoffEndsAt }, ari] = await Promise.all([this.state.nextTimes(), this.state.nextAriCheckAt()]);
    if (backoffEndsAt) times.push(backoffEndsAt);
    for (const at of [renewalAt, ari]) if (at) times.push(new Date(Math.max(at.getTime(), now.getTime()) + GATHER_MS));
    if (times.length === 0) return undefined;
    return new Date(Math.min(...times.map((t) => t.getTime())));
  }

  /** Whether a run would find work now (a wake that comes for ARI checks alone starts none). */
  async workDue(): Promise<boolean> {
    return (await this.work()).dueNow;
  }

  /** Work due now that the budget lets through; otherwise what it waits for (a pause's end, a budget refill). */
  private async work(): Promise<{ dueNow: boolean; waits: Date[] }> {
    // Stored certificates whose upload Fastly holds back wait for the reset.
    const held = this.options.uploadHold?.heldUntil();
    const waits = held ? [held] : [];
    const eligibility = { excluded: this.options.excluded, windowDays: this.options.windowDays, ...(held ? { uploadsHeld: true } : {}) };
    const budget = await this.budget().catch(() => undefined);
    // headroom() reads the pause first and is 0 while paused: the pause is read again only then.
    const headroom = budget ? await budget.headroom() : undefined;
    const paused = headroom === 0 ? await budget?.pausedUntil() : undefined;
    // While the CA has paused the account, due work waits for the pause to end.
    if (paused) return { dueNow: false, waits: [...waits, paused.until] };
    // Renewals, and new orders up to the budget's headroom.
    const due = await this.repository.selectDue({ limit: 1, ...eligibility, ...(headroom !== undefined ? { newOrdersLimit: headroom } : {}) });
    if (due.length > 0) return { dueNow: true, waits: [] };
    // New domains held back by a used-up budget: its next free slot.
    const refill = headroom === 0 ? await budget?.refillAt() : undefined;
    if (refill && (await this.repository.selectDue({ limit: 1, ...eligibility })).length > 0) waits.push(refill);
    return { dueNow: false, waits };
  }
}
