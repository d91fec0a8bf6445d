import type { Db } from '../db/client.js';
import type { Clock } from '../clock.js';
import type { DomainState } from '../generated/postgres/client.js';

export type { DomainState };

/**
 * A domain's journey, persisted so that a reader and a restarted process can see
 * where it stands:
 *
 *   due ─▶ ordered ─▶ stored ─▶ uploaded ─▶ recorded
 *
 * - `ordered`: an ACME order exists; nothing is kept yet (a crash here costs the
 *   order, never a certificate: the key only ever lives in memory before `stored`).
 * - `stored`: the certificate and its key are in the secrets store. From here on
 *   the next run resumes from the stored material; it never orders again.
 * - `uploaded`: Fastly serves it; only the database record is missing.
 * - `recorded`: done; `next_renewal_at` says when the journey starts again.
 */
export type Phase = 'due' | 'ordered' | 'stored' | 'uploaded' | 'recorded';

export type StatePatch = Partial<Omit<DomainState, 'domainId' | 'updatedAt' | 'leaseOwner' | 'leaseExpiresAt'>> & { phase?: Phase };

/**
 * Per-domain leases and state. A lease is claimed with one conditional UPDATE
 * (free, expired, or already ours), so two runs — in this process or on another
 * instance sharing the database — never work on one domain at once. Every write
 * made under a lease checks that the lease is still ours.
 */
export class DomainStateStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async get(domainId: number): Promise<DomainState | null> {
    return this.db.domainState.findUnique({ where: { domainId } });
  }

  /** Claims the lease on a domain for `owner` for `ttlMs`. Returns false when another holder has it. */
  async claimLease(domainId: number, owner: string, ttlMs: number): Promise<boolean> {
    await this.ensureRow(domainId);
    const now = this.clock.now();
    const { count } = await this.db.domainState.updateMany({
      where: {
        domainId,
        OR: [{ leaseOwner: null }, { leaseExpiresAt: { lt: now } }, { leaseOwner: owner }],
      },
      data: { leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + ttlMs) },
    });
    return count === 1;
  }

  /** Extends a held lease. Returns false when the lease was lost (expired and taken over). */
  async extendLease(domainId: number, owner: string, ttlMs: number): Promise<boolean> {
    const { count } = await this.db.domainState.updateMany({
      where: { domainId, leaseOwner: owner },
      data: { leaseExpiresAt: new Date(this.clock.now().getTime() + ttlMs) },
    });
    return count === 1;
  }

  async releaseLease(domainId: number, owner: string): Promise<void> {
    await this.db.domainState.updateMany({
      where: { domainId, leaseOwner: owner },
      data: { leaseOwner: null, leaseExpiresAt: null },
    });
  }

  /** Releases every lease whose owner starts with `ownerPrefix` (an instance, at shutdown). */
  async releaseAll(ownerPrefix: string): Promise<number> {
    const { count } = await this.db.domainState.updateMany({
      where: { leaseOwner: { startsWith: `${ownerPrefix}/` } },
      data: { leaseOwner: null, leaseExpiresAt: null },
    });
    return count;
  }

  /** Writes state under the lease; throws LeaseLostError when the lease is no longer ours. */
  async update(domainId: number, owner: string, patch: StatePatch): Promise<void> {
    const { count } = await this.db.domainState.updateMany({ where: { domainId, leaseOwner: owner }, data: patch });
    if (count !== 1) throw new LeaseLostError(domainId);
  }

  /** Writes state without a lease (e.g. refreshing the next renewal time from a probe). */
  async patch(domainId: number, patch: StatePatch): Promise<void> {
    await this.ensureRow(domainId);
    await this.db.domainState.update({ where: { domainId }, data: patch });
  }

  private async ensureRow(domainId: number): Promise<void> {
    // INSERT … ON CONFLICT DO NOTHING is race-free on both databases, unlike upsert.
    await this.db.$executeRaw`INSERT INTO autotls_domain_state (domain_id) VALUES (${domainId}) ON CONFLICT (domain_id) DO NOTHING`;
  }

  /**
   * Records an ARI check outside any run: the next check and, when given, the
   * renewal time taken from the window. Writes only when no run holds the
   * lease, and only while the recorded certificate is still `certId` (a run
   * that renewed meanwhile has recorded a newer certificate with its own
   * schedule), in phase `recorded`. Returns false when nothing was written.
   */
  async recordAriCheck(domainId: number, check: { certId: string; nextRenewalAt?: Date; ariCheckAfter: Date }): Promise<boolean> {
    const { count } = await this.db.domainState.updateMany({
      where: { domainId, phase: 'recorded', certId: check.certId, OR: [{ leaseOwner: null }, { leaseExpiresAt: { lt: this.clock.now() } }] },
      data: { ariCheckAfter: check.ariCheckAfter, ...(check.nextRenewalAt ? { nextRenewalAt: check.nextRenewalAt } : {}) },
    });
    return count === 1;
  }
}

export class LeaseLostError extends Error {
  constructor(domainId: number) {
    super(`Lease on domain ${domainId} was lost to another run`);
    this.name = 'LeaseLostError';
  }
}
