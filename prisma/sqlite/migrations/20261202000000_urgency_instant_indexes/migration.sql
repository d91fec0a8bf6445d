-- Selection by urgency, comparing dates as instants (issue 13, issue 14 item 9).
-- The Python AutoTLS stores `2026-12-16 23:05:51.000000`, Prisma's adapter
-- `2026-12-16T22:12:37.000+00:00`; SQLite compares them as text, so the
-- eligibility query compares julianday(tls_exp_date). These expression indexes
-- match those terms exactly, so the planner keeps using an index.

-- Domains of other issuers that are eligible, walked in urgency order
-- (julianday(NULL) is NULL, which sorts first: no certificate comes first).
-- The predicate repeats the eligibility query's terms, so the planner can use it.
DROP INDEX IF EXISTS "domains_other_issuer_due_idx";
CREATE INDEX IF NOT EXISTS "domains_other_issuer_urgency_idx" ON "domains" (julianday("tls_exp_date"), "id")
  WHERE owned = 1 AND (status IS NULL OR status NOT IN ('Parked', 'Expired')) AND zone_id IS NOT NULL AND zone_id <> ''
    AND (tls_issuer IS NULL OR tls_issuer <> 'Lets Encrypt');

-- Let's Encrypt certificates expiring before the seed window's cutoff.
CREATE INDEX IF NOT EXISTS "domains_lets_encrypt_expiry_idx" ON "domains" (julianday("tls_exp_date"))
  WHERE tls_issuer = 'Lets Encrypt';
