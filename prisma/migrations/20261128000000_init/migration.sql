-- AutoTLS initial schema (PostgreSQL).
-- The Python AutoTLS tables are created only when absent, so an existing AutoTLS
-- database is adopted as it is, rows and all.

CREATE TABLE IF NOT EXISTS "domains" (
    "id" SERIAL NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "tld" VARCHAR(50) NOT NULL,
    "registrar_id" INTEGER,
    "exp_date" TIMESTAMP(6),
    "zone_id" VARCHAR(255),
    "nameservers" VARCHAR(255),
    "status" VARCHAR(255),
    "registered" BOOLEAN DEFAULT true,
    "ok_to_delete" BOOLEAN DEFAULT false,
    "notes" TEXT,
    "registrant_contact_id" INTEGER,
    "admin_contact_id" INTEGER,
    "tech_contact_id" INTEGER,
    "expired" BOOLEAN DEFAULT false,
    "fastly_cert" BOOLEAN DEFAULT false,
    "origin_id" INTEGER,
    "tls_id" INTEGER,
    "tls_exp_date" TIMESTAMPTZ(6),
    "owned" BOOLEAN DEFAULT true,
    "last_updated" TIMESTAMP(6),
    "last_updated_by" VARCHAR(255),
    "tls_issuer" VARCHAR(16),
    "fastly_service" VARCHAR(16),
    CONSTRAINT "pk_user_id" PRIMARY KEY ("id"),
    CONSTRAINT "domains_name_key" UNIQUE ("name")
);

CREATE TABLE IF NOT EXISTS "tls" (
    "id" SERIAL NOT NULL,
    "fastly_id" VARCHAR(40),
    "not_after" TIMESTAMP(6),
    "not_before" TIMESTAMP(6),
    "created_at" TIMESTAMP(6),
    CONSTRAINT "tls_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "tlsfastly" (
    "id" SERIAL NOT NULL,
    "cert_id" VARCHAR(50) NOT NULL,
    "not_after" TIMESTAMP(6),
    "not_before" TIMESTAMP(6),
    "created_at" TIMESTAMP(6),
    "updated_at" TIMESTAMP(6),
    "replace" BOOLEAN DEFAULT false,
    "tls_configuration_id" VARCHAR(50),
    "tls_configuration_type" VARCHAR(50),
    "tls_domain_id" VARCHAR(200),
    "tls_domain_type" VARCHAR(50),
    "type" VARCHAR(50),
    CONSTRAINT "tlsfastly_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "tlsfastly_cert_id_key" UNIQUE ("cert_id")
);

-- The eligibility query filters and orders on these.
CREATE INDEX IF NOT EXISTS "domains_tls_exp_date_idx" ON "domains" ("tls_exp_date");

CREATE TABLE "autotls_domain_state" (
    "domain_id" INTEGER NOT NULL,
    "phase" TEXT NOT NULL DEFAULT 'due',
    "lease_owner" TEXT,
    "lease_expires_at" TIMESTAMP(3),
    "next_renewal_at" TIMESTAMP(3),
    "ari_check_after" TIMESTAMP(3),
    "cert_id" TEXT,
    "cert_serial" TEXT,
    "cert_not_before" TIMESTAMP(3),
    "cert_not_after" TIMESTAMP(3),
    "fastly_key_id" TEXT,
    "fastly_cert_id" TEXT,
    "failure_count" INTEGER NOT NULL DEFAULT 0,
    "backoff_until" TIMESTAMP(3),
    "last_outcome" TEXT,
    "last_error" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "autotls_domain_state_pkey" PRIMARY KEY ("domain_id"),
    CONSTRAINT "autotls_domain_state_domain_id_fkey" FOREIGN KEY ("domain_id") REFERENCES "domains"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "autotls_domain_state_next_renewal_at_idx" ON "autotls_domain_state"("next_renewal_at");

CREATE TABLE "autotls_acme_orders" (
    "id" SERIAL NOT NULL,
    "account" TEXT NOT NULL,
    "domain" TEXT NOT NULL,
    "order_url" TEXT,
    "replaces" TEXT,
    "exempt" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "autotls_acme_orders_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "autotls_acme_orders_account_created_at_idx" ON "autotls_acme_orders"("account", "created_at");
CREATE INDEX "autotls_acme_orders_domain_idx" ON "autotls_acme_orders"("domain");

CREATE TABLE "autotls_acme_accounts" (
    "account" TEXT NOT NULL,
    "paused_until" TIMESTAMP(3),
    "pause_reason" TEXT,
    CONSTRAINT "autotls_acme_accounts_pkey" PRIMARY KEY ("account")
);

CREATE TABLE "autotls_runs" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "testmode" BOOLEAN NOT NULL,
    "instance" TEXT NOT NULL,
    "started_at" TIMESTAMP(3) NOT NULL,
    "finished_at" TIMESTAMP(3),
    CONSTRAINT "autotls_runs_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "autotls_runs_started_at_idx" ON "autotls_runs"("started_at");

CREATE TABLE "autotls_run_results" (
    "id" SERIAL NOT NULL,
    "run_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "domain" TEXT NOT NULL,
    "certificate_status" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "not_after" TIMESTAMP(3),
    "messages" TEXT NOT NULL DEFAULT '[]',
    "errors" TEXT NOT NULL DEFAULT '[]',
    CONSTRAINT "autotls_run_results_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "autotls_run_results_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "autotls_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "autotls_run_results_run_id_idx" ON "autotls_run_results"("run_id");
