-- Which CA issued each certificate, and where an order in flight is (issue 16,
-- the fallback CA): directory URLs. NULL means the primary (LE_DIRECTORY_URL), so
-- every row written before this migration keeps its meaning; no row is rewritten.
ALTER TABLE "autotls_domain_state" ADD COLUMN "cert_ca" TEXT;
ALTER TABLE "autotls_domain_state" ADD COLUMN "order_ca" TEXT;
