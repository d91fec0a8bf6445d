-- Eligibility at 100k domains (measured in bench/: p95 from 380 ms to under 15 ms).
-- Prisma's schema language cannot express partial indexes, so they live here only.

-- Domains of other issuers that are eligible: a handful in steady state. The
-- predicate repeats the eligibility query's terms, so the planner can use it.
CREATE INDEX IF NOT EXISTS "domains_other_issuer_due_idx" ON "domains" ("tls_exp_date")
  WHERE owned = true AND (status IS NULL OR status NOT IN ('Parked', 'Expired')) AND zone_id IS NOT NULL AND zone_id <> ''
    AND (tls_issuer IS NULL OR tls_issuer <> 'Lets Encrypt');

-- Stored certificates waiting to be uploaded or recorded (rare rows).
CREATE INDEX IF NOT EXISTS "autotls_domain_state_resumable_idx" ON "autotls_domain_state" ("phase") WHERE phase IN ('stored', 'uploaded');

-- Domains in failure backoff (selectBackedOff filters and orders on it).
CREATE INDEX IF NOT EXISTS "autotls_domain_state_backoff_until_idx" ON "autotls_domain_state" ("backoff_until");
