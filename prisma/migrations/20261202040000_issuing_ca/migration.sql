-- Which CA issued each certificate, where an order in flight is, and which CA
-- each order went to (issue 16, the fallback CA): directory URLs. In the domain
-- state NULL means the primary (LE_DIRECTORY_URL), so every row written before
-- this migration keeps its meaning; an order row's NULL means "not recorded"
-- (its account column still says which account it counts for). No row is rewritten.
ALTER TABLE "autotls_domain_state" ADD COLUMN IF NOT EXISTS "cert_ca" TEXT;
ALTER TABLE "autotls_domain_state" ADD COLUMN IF NOT EXISTS "order_ca" TEXT;
ALTER TABLE "autotls_acme_orders" ADD COLUMN IF NOT EXISTS "ca" TEXT;
