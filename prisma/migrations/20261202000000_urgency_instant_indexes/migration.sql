-- Selection by urgency (issue 13): no certificate first (NULL expiry), then the
-- earliest expiry, ties by id. The index has exactly that order, so the
-- eligibility query walks it and stops at the per-run limit.
-- PostgreSQL's timestamp types already compare instants; only the order changes.
DROP INDEX IF EXISTS "domains_other_issuer_due_idx";
CREATE INDEX IF NOT EXISTS "domains_other_issuer_urgency_idx" ON "domains" ("tls_exp_date" ASC NULLS FIRST, "id")
  WHERE owned = true AND (status IS NULL OR status NOT IN ('Parked', 'Expired')) AND zone_id IS NOT NULL AND zone_id <> ''
    AND (tls_issuer IS NULL OR tls_issuer <> 'Lets Encrypt');

-- Let's Encrypt certificates expiring before the seed window's cutoff (or with
-- no expiry, when other issuers' domains without a certificate fill the limit).
CREATE INDEX IF NOT EXISTS "domains_lets_encrypt_expiry_idx" ON "domains" ("tls_exp_date" ASC NULLS FIRST)
  WHERE tls_issuer = 'Lets Encrypt';
