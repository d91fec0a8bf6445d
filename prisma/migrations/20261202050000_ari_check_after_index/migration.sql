-- The ARI refresh's order (issue 13): the next check first (never checked
-- first), ties by domain. The refresher's page query and the continuous
-- schedule's earliest pending check walk this index and stop at the first rows
-- instead of sorting every recorded certificate at each wake.
CREATE INDEX IF NOT EXISTS "autotls_domain_state_ari_check_after_idx" ON "autotls_domain_state" ("ari_check_after" ASC NULLS FIRST, "domain_id");
