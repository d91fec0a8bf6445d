// The Python AutoTLS tables as SQLAlchemy created them (models.py), with rows.
export const LEGACY_SQLITE = `
CREATE TABLE domains (id INTEGER NOT NULL, name VARCHAR(100) NOT NULL, tld VARCHAR(50) NOT NULL, registrar_id INTEGER,
  exp_date DATETIME, zone_id VARCHAR(255), nameservers VARCHAR(255), status VARCHAR(255), registered BOOLEAN, ok_to_delete BOOLEAN,
  notes TEXT, registrant_contact_id INTEGER, admin_contact_id INTEGER, tech_contact_id INTEGER, expired BOOLEAN, fastly_cert BOOLEAN,
  origin_id INTEGER, tls_id INTEGER, tls_exp_date DATETIME, owned BOOLEAN, last_updated DATETIME, last_updated_by VARCHAR(255),
  tls_issuer VARCHAR(16), fastly_service VARCHAR(16),
  CONSTRAINT pk_user_id PRIMARY KEY (id), CONSTRAINT domains_name_key UNIQUE (name));
CREATE TABLE tls (id INTEGER NOT NULL, fastly_id VARCHAR(40), not_after DATETIME, not_before DATETIME, created_at DATETIME, CONSTRAINT tls_pkey PRIMARY KEY (id));
CREATE TABLE tlsfastly (id INTEGER NOT NULL, cert_id VARCHAR(50) NOT NULL, not_after DATETIME, not_before DATETIME, created_at DATETIME,
  updated_at DATETIME, replace BOOLEAN, tls_configuration_id VARCHAR(50), tls_configuration_type VARCHAR(50), tls_domain_id VARCHAR(200),
  tls_domain_type VARCHAR(50), type VARCHAR(50), CONSTRAINT tlsfastly_pkey PRIMARY KEY (id), CONSTRAINT tlsfastly_cert_id_key UNIQUE (cert_id));
INSERT INTO domains (id, name, tld, zone_id, owned, status, tls_exp_date, tls_issuer, last_updated_by)
  VALUES (1, 'legacy.example', 'example', 'Z123', 1, NULL, '2026-12-01 00:00:00.000000', 'Lets Encrypt', 'tlstool');
INSERT INTO tls (id, fastly_id, not_after, not_before, created_at) VALUES (7, 'abc123', '2026-12-01 00:00:00.000000', '2026-09-02 00:00:00.000000', '2026-09-02 00:05:00.000000');
INSERT INTO tlsfastly (id, cert_id, replace) VALUES (1, 'abc123', 0);
`;

export const LEGACY_POSTGRES = `
CREATE TABLE domains (id SERIAL NOT NULL, name VARCHAR(100) NOT NULL, tld VARCHAR(50) NOT NULL, registrar_id INTEGER,
  exp_date TIMESTAMP WITHOUT TIME ZONE, zone_id VARCHAR(255), nameservers VARCHAR(255), status VARCHAR(255), registered BOOLEAN, ok_to_delete BOOLEAN,
  notes TEXT, registrant_contact_id INTEGER, admin_contact_id INTEGER, tech_contact_id INTEGER, expired BOOLEAN, fastly_cert BOOLEAN,
  origin_id INTEGER, tls_id INTEGER, tls_exp_date TIMESTAMP WITH TIME ZONE, owned BOOLEAN, last_updated TIMESTAMP WITHOUT TIME ZONE,
  last_updated_by VARCHAR(255), tls_issuer VARCHAR(16), fastly_service VARCHAR(16),
  CONSTRAINT pk_user_id PRIMARY KEY (id), CONSTRAINT domains_name_key UNIQUE (name));
CREATE TABLE tls (id SERIAL NOT NULL, fastly_id VARCHAR(40), not_after TIMESTAMP WITHOUT TIME ZONE, not_before TIMESTAMP WITHOUT TIME ZONE,
  created_at TIMESTAMP WITHOUT TIME ZONE, CONSTRAINT tls_pkey PRIMARY KEY (id));
COMMENT ON TABLE tls IS 'This table stores info from the TLS tool, written at the time the cert is created.';
CREATE TABLE tlsfastly (id SERIAL NOT NULL, cert_id VARCHAR(50) NOT NULL, not_after TIMESTAMP WITHOUT TIME ZONE, not_before TIMESTAMP WITHOUT TIME ZONE,
  created_at TIMESTAMP WITHOUT TIME ZONE, updated_at TIMESTAMP WITHOUT TIME ZONE, replace BOOLEAN, tls_configuration_id VARCHAR(50),
  tls_configuration_type VARCHAR(50), tls_domain_id VARCHAR(200), tls_domain_type VARCHAR(50), type VARCHAR(50),
  CONSTRAINT tlsfastly_pkey PRIMARY KEY (id), CONSTRAINT tlsfastly_cert_id_key UNIQUE (cert_id));
INSERT INTO domains (name, tld, zone_id, owned, tls_exp_date, tls_issuer, last_updated_by)
  VALUES ('legacy.example', 'example', 'Z123', true, '2026-12-01 00:00:00+00', 'Lets Encrypt', 'tlstool');
INSERT INTO tls (fastly_id, not_after, not_before, created_at) VALUES ('abc123', '2026-12-01 00:00:00', '2026-09-02 00:00:00', '2026-09-02 00:05:00');
INSERT INTO tlsfastly (cert_id, replace) VALUES ('abc123', false);
`;
