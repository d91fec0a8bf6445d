import { describe, expect, it } from 'vitest';
import { rateLimitScope } from '../../../src/certificates/rate-limits.js';

// Details as Let's Encrypt words them (Boulder's ratelimits package; each links its
// section of https://letsencrypt.org/docs/rate-limits/).
const LE = 'https://letsencrypt.org/docs/rate-limits/';

describe('rateLimitScope', () => {
  it('reads the limit from the linked section of the rate-limits page', () => {
    expect(rateLimitScope(`too many new orders (300) from this account in the last 3h0m0s, retry after 2026-12-02 01:00:00 UTC: see ${LE}#new-orders-per-account`)).toBe('account');
    expect(rateLimitScope(`too many certificates (50) already issued for "example.com" in the last 168h0m0s, retry after 2026-12-03 00:00:00 UTC: see ${LE}#new-certificates-per-registered-domain`)).toBe('registered-domain');
    expect(rateLimitScope(`too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2025-09-18 09:13:16 UTC: see ${LE}#new-certificates-per-exact-set-of-identifiers`)).toBe('names');
    expect(rateLimitScope(`too many failed authorizations (5) for "example.com" in the last 1h0m0s, retry after 2026-12-02 00:10:00 UTC: see ${LE}#authorization-failures-per-identifier-per-account`)).toBe('name');
    expect(rateLimitScope(`too many new registrations (10) from this IP address in the last 3h0m0s: see ${LE}#new-registrations-per-ip-address`)).toBe('account');
  });

  it('falls back to the wording when no section is linked', () => {
    expect(rateLimitScope('too many new orders (300) from this account in the last 3h0m0s')).toBe('account');
    expect(rateLimitScope('too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s')).toBe('names');
    expect(rateLimitScope('too many certificates (50) already issued for "example.com" in the last 168h0m0s')).toBe('registered-domain');
    expect(rateLimitScope('too many failed authorizations (5) for "x.example.com" in the last 1h0m0s')).toBe('name');
  });

  it('treats an unknown limit as account-wide', () => {
    expect(rateLimitScope('')).toBe('account');
    expect(rateLimitScope('slow down')).toBe('account');
  });
});
