-- When a domain's current run of consecutive failures began (issue 17, item 3):
-- /metrics exposes it per failing domain, so an alert can say "failing for more
-- than 24 hours" from the database rather than from how long Prometheus has seen
-- a series. Domains failing at upgrade time start from their last state change.
ALTER TABLE "autotls_domain_state" ADD COLUMN IF NOT EXISTS "failing_since" TIMESTAMP(3);
UPDATE "autotls_domain_state" SET "failing_since" = "updated_at" WHERE "failure_count" > 0 AND "failing_since" IS NULL;
CREATE INDEX IF NOT EXISTS "autotls_domain_state_failing_since_idx" ON "autotls_domain_state"("failing_since");
