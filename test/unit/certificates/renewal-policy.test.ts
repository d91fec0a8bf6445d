import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import {
  ariRenewalTime,
  backoffDelay,
  isLiveCertificateDue,
  isRenewalDue,
  nextAriCheck,
  RENEWAL_WINDOW_END_MARGIN_MS,
  renewalTime,
  scheduleFromAri,
} from '../../../src/certificates/renewal-policy.js';
import { GATHER_MS } from '../../../src/domains/pending-events.js';
import { CONTINUOUS_MAX_JITTER_MS } from '../../../src/orchestrator/scheduler.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MINUTE = 60_000;

function cert(lifetimeMs: number, issued = '2026-01-01T00:00:00Z') {
  const notBefore = new Date(issued);
  return { notBefore, notAfter: new Date(notBefore.getTime() + lifetimeMs) };
}

/** Time left before expiry at the moment the certificate becomes due. */
function leftWhenDue(c: { notBefore: Date; notAfter: Date }, windowDays = 15, windowExplicit = false): number {
  return c.notAfter.getTime() - renewalTime({ ...c, windowDays, windowExplicit }).getTime();
}

describe('renewalTime without ARI', () => {
  it('renews a 90-day certificate with 30 days left', () => {
    expect(leftWhenDue(cert(90 * DAY))).toBe(30 * DAY);
  });
  it('renews a 45-day certificate with 15 days left', () => {
    expect(leftWhenDue(cert(45 * DAY))).toBe(15 * DAY);
  });
  it('renews a 160-hour certificate with 80 hours left (half, under 10 days)', () => {
    expect(leftWhenDue(cert(160 * HOUR))).toBe(80 * HOUR);
  });
  it('uses RENEWAL_WINDOW_DAYS=15 on a 90-day certificate when set explicitly', () => {
    expect(leftWhenDue(cert(90 * DAY), 15, true)).toBe(15 * DAY);
  });
  it('caps an explicit window at half the lifetime (6-day certificate → 3 days)', () => {
    expect(leftWhenDue(cert(6 * DAY), 15, true)).toBe(3 * DAY);
  });
  it('falls back to the fixed window without a notBefore', () => {
    const notAfter = new Date('2026-03-01T00:00:00Z');
    expect(renewalTime({ notBefore: undefined, notAfter, windowDays: 15, windowExplicit: false })).toEqual(new Date('2026-02-14T00:00:00Z'));
  });
  it('moves from not due to due on a fake clock', () => {
    const clock = new FakeClock('2026-01-01T00:00:00Z');
    const c = { ...cert(90 * DAY), windowDays: 15, windowExplicit: false };
    clock.advance(60 * DAY - MINUTE);
    expect(isRenewalDue(c, clock.now())).toBe(false);
    clock.advance(MINUTE);
    expect(isRenewalDue(c, clock.now())).toBe(true);
  });
});

describe('ariRenewalTime', () => {
  const clock = new FakeClock('2026-02-01T00:00:00Z');
  const window = { start: new Date('2026-02-10T00:00:00Z'), end: new Date('2026-02-12T00:00:00Z') };

  // The window's last RENEWAL_WINDOW_END_MARGIN_MS are left for the schedule's gathering and jitter.
  const usable = 2 * DAY - RENEWAL_WINDOW_END_MARGIN_MS;
  it('picks a uniformly random time inside a future window, short of its end', () => {
    expect(ariRenewalTime(window, () => 0, clock.now())).toEqual(window.start);
    expect(ariRenewalTime(window, () => 0.5, clock.now())).toEqual(new Date(window.start.getTime() + usable / 2));
    const t = ariRenewalTime(window, () => 0.999, clock.now()).getTime();
    expect(t).toBeGreaterThan(window.start.getTime());
    expect(t).toBeLessThan(window.end.getTime() - RENEWAL_WINDOW_END_MARGIN_MS);
  });
  it('leaves room for a continuous wake that gathers and jitters, and keeps half of a short window', () => {
    expect(RENEWAL_WINDOW_END_MARGIN_MS).toBeGreaterThanOrEqual(GATHER_MS + CONTINUOUS_MAX_JITTER_MS);
    const short = { start: window.start, end: new Date(window.start.getTime() + HOUR) };
    expect(ariRenewalTime(short, () => 0.999_999, clock.now()).getTime()).toBeLessThanOrEqual(window.start.getTime() + HOUR / 2);
  });
  it('means now for a window already in the past', () => {
    const now = new Date('2026-02-20T00:00:00Z');
    expect(ariRenewalTime(window, () => 0.5, now)).toEqual(now);
  });
  it('means now when the chosen time has already passed inside an open window', () => {
    const now = new Date('2026-02-11T12:00:00Z');
    expect(ariRenewalTime(window, () => 0.1, now)).toEqual(now);
    expect(ariRenewalTime(window, () => 0.9, now)).toEqual(new Date(window.start.getTime() + 0.9 * usable));
  });
});

describe('nextAriCheck', () => {
  const now = new Date('2026-02-01T00:00:00Z');
  const after = (seconds: number | undefined) => nextAriCheck(now, seconds).getTime() - now.getTime();
  // RFC 9773 §4.3: ask again once Retry-After has passed; treat values under a
  // minute as a minute and over a day as a day.
  it("honours the CA's Retry-After as sent, Let's Encrypt's 6 hours included", () => {
    expect(after(21_600)).toBe(6 * HOUR);
    expect(after(3600)).toBe(HOUR);
    expect(after(18 * 3600)).toBe(18 * HOUR);
  });
  it('treats a Retry-After under a minute as a minute', () => {
    expect(after(5)).toBe(MINUTE);
    expect(after(0)).toBe(MINUTE);
    expect(after(-30)).toBe(MINUTE);
  });
  it('treats Retry-After over a day as a day', () => {
    expect(after(7 * 24 * 3600)).toBe(24 * HOUR);
  });
  it("asks again after 6 hours (Let's Encrypt's interval) without Retry-After", () => {
    expect(after(undefined)).toBe(6 * HOUR);
    expect(after(Number.NaN)).toBe(6 * HOUR);
  });
});

describe('scheduleFromAri', () => {
  const now = new Date('2026-02-01T00:00:00Z');
  const window = { start: new Date('2026-02-10T00:00:00Z'), end: new Date('2026-02-12T00:00:00Z') };
  it('picks a time inside the window and the next check from Retry-After', () => {
    const s = scheduleFromAri({ suggestedWindow: window, retryAfterSeconds: 600 }, now, () => 0.5);
    expect(s).toEqual({ nextRenewalAt: new Date(window.start.getTime() + (2 * DAY - RENEWAL_WINDOW_END_MARGIN_MS) / 2), ariCheckAfter: new Date(now.getTime() + 10 * MINUTE), picked: true });
  });
  it('keeps a time picked earlier that still lies inside the window', () => {
    const current = new Date('2026-02-10T03:00:00Z');
    expect(scheduleFromAri({ suggestedWindow: window }, now, () => 0.9, current)).toMatchObject({ nextRenewalAt: current, picked: false });
  });
  it('picks again when the window moved away from the time picked earlier', () => {
    const current = new Date('2026-03-01T00:00:00Z');
    expect(scheduleFromAri({ suggestedWindow: window }, now, () => 0, current)).toMatchObject({ nextRenewalAt: window.start, picked: true });
  });
  it('means now for a window in the past (a revocation notice)', () => {
    const past = { start: new Date('2026-01-20T00:00:00Z'), end: new Date('2026-01-21T00:00:00Z') };
    expect(scheduleFromAri({ suggestedWindow: past }, now, () => 0.5, new Date('2026-03-01T00:00:00Z'))).toMatchObject({ nextRenewalAt: now, picked: true });
    // Already due: stays due, unchanged.
    const due = new Date('2026-01-31T00:00:00Z');
    expect(scheduleFromAri({ suggestedWindow: past }, now, () => 0.5, due)).toMatchObject({ nextRenewalAt: due, picked: false });
  });
});

describe('backoffDelay', () => {
  it('follows 1 min, 10 min, 100 min, then 24 h', () => {
    const mid = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, mid))).toEqual([MINUTE, 10 * MINUTE, 100 * MINUTE, DAY, DAY, DAY]);
    expect(backoffDelay(0, mid)).toBe(0);
  });
  it('jitters by ±10 %', () => {
    expect(backoffDelay(2, () => 0)).toBe(9 * MINUTE);
    expect(backoffDelay(2, () => 1)).toBe(11 * MINUTE);
    expect(backoffDelay(4, () => 0)).toBe(0.9 * DAY);
  });
});

describe('isLiveCertificateDue', () => {
  const now = new Date('2027-03-01T00:00:00Z');
  const day = 86_400_000;
  const policy = { windowDays: 15, windowExplicit: false };
  const live = { notBefore: new Date(now.getTime() - 30 * day), notAfter: new Date(now.getTime() + 60 * day) };
  it("lets AutoTLS's own renewal time decide for the certificate it recorded (it may come from ARI)", () => {
    expect(isLiveCertificateDue({ nextRenewalAt: new Date(now.getTime() - 1), certNotAfter: live.notAfter }, live, policy, now)).toBe(true);
    expect(isLiveCertificateDue({ nextRenewalAt: new Date(now.getTime() + day), certNotAfter: live.notAfter }, live, policy, now)).toBe(false);
  });
  it('judges a newer certificate (renewed elsewhere) by the lifetime policy', () => {
    const recorded = { nextRenewalAt: new Date(now.getTime() - 1), certNotAfter: new Date(live.notAfter.getTime() - day) };
    expect(isLiveCertificateDue(recorded, live, policy, now)).toBe(false); // 60 of 90 days left
    expect(isLiveCertificateDue(null, { notBefore: live.notBefore, notAfter: new Date(now.getTime() + 10 * day) }, policy, now)).toBe(true);
  });
});
