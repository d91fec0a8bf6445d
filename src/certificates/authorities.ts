/**
 * The CAs AutoTLS orders from: the primary (LE_DIRECTORY_URL) and, when
 * configured, the fallback (ACME_FALLBACK_DIRECTORY_URL), each one ACME account
 * with its own order budget. Which one a domain uses is ca-choice.ts; which one
 * a recorded certificate or a pending order belongs to is the directory URL kept
 * in the domain state (`cert_ca`, `order_ca`; null means the primary).
 */
import type { OrderBudget } from './budget.js';
import { CaHealth, type CaRole } from './ca-choice.js';
import type { CertificateIssuer } from './issuer.js';

export interface CertificateAuthority {
  role: CaRole;
  /** The ACME directory URL; recorded with each certificate and order. */
  directoryUrl: string;
  /** The connected account (connects on first use; retried after a failure). */
  issuer: () => Promise<CertificateIssuer>;
  /** The account's order budget and pause. */
  budget: () => Promise<OrderBudget>;
}

export class CertificateAuthorities {
  readonly health = new CaHealth();

  constructor(
    readonly primary: CertificateAuthority,
    readonly fallback?: CertificateAuthority,
  ) {}

  /**
   * The CA a recorded directory URL names: the fallback when it is the
   * fallback's, else the primary (null: recorded before the column existed,
   * when AutoTLS knew only the primary; an URL configured neither way: the
   * primary, which is what AutoTLS asked before it recorded the CA).
   */
  byDirectory(directoryUrl: string | null | undefined): CertificateAuthority {
    if (directoryUrl && this.fallback && directoryUrl === this.fallback.directoryUrl) return this.fallback;
    return this.primary;
  }

  /** The other CA of `role`, when there are two. */
  other(role: CaRole): CertificateAuthority | undefined {
    return role === 'primary' ? this.fallback : this.primary;
  }

  get(role: CaRole): CertificateAuthority | undefined {
    return role === 'primary' ? this.primary : this.fallback;
  }

  /**
   * The budget new orders are paced by (the continuous schedule's wake-ups and
   * its new-order headroom): the primary's, except while the CA has paused the
   * primary account and the fallback's is usable and not paused, since new
   * orders then go to the fallback (ca-choice.ts rule b).
   */
  async schedulingBudget(): Promise<OrderBudget> {
    const primary = await this.primary.budget();
    if (!this.fallback || !(await primary.pausedUntil())) return primary;
    try {
      const fallback = await this.fallback.budget();
      return (await fallback.pausedUntil()) ? primary : fallback;
    } catch {
      return primary;
    }
  }
}
