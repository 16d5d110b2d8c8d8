-- The SMART authorization server's state. It lives in DB_0 (the directory
-- shard): small, write-light and strongly consistent, so a revocation is
-- seen by the next request everywhere. Secrets (passwords, client secrets,
-- tokens, codes) are stored only as hashes. Times are epoch milliseconds.

-- Registered apps (RFC 7591). status: pending | approved | rejected | disabled.
CREATE TABLE clients (
  client_id TEXT PRIMARY KEY,
  practice TEXT NOT NULL,
  name TEXT NOT NULL,
  auth_method TEXT NOT NULL,          -- none | client_secret_basic | private_key_jwt
  secret_hash TEXT,                   -- SHA-256 of the client secret (client_secret_basic)
  jwks TEXT,                          -- inline JWKS (private_key_jwt)
  jwks_uri TEXT,
  redirect_uris TEXT NOT NULL,        -- JSON array, compared exactly
  grant_types TEXT NOT NULL,          -- JSON array
  scope TEXT NOT NULL,                -- allowed scopes, canonical, space-separated
  pending_scope TEXT,                 -- a requested scope change awaiting approval
  launch_uri TEXT,
  status TEXT NOT NULL,
  status_reason TEXT,
  metadata TEXT NOT NULL,             -- the registration request as sent (JSON)
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX clients_practice ON clients(practice, status);

-- Origins of approved clients' redirect URIs: the CORS allow-list.
CREATE TABLE client_origins (
  origin TEXT NOT NULL,
  client_id TEXT NOT NULL,
  PRIMARY KEY (origin, client_id)
);

-- People who sign in: practitioners (fhir_user Practitioner/…) and patients (Patient/…).
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  practice TEXT NOT NULL,
  fhir_user TEXT NOT NULL,            -- relative reference, e.g. Patient/85
  display_name TEXT,
  password_hash TEXT NOT NULL,        -- pbkdf2-sha256$iterations$salt$hash (base64url)
  failed_signins INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);

-- Browser sign-in sessions (cookie flare_session holds the random id; we keep its hash).
CREATE TABLE sessions (
  session_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER
);

-- Launch contexts the EHR creates (opaque `launch` value → context).
CREATE TABLE launches (
  launch_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  practice TEXT NOT NULL,
  context TEXT NOT NULL,              -- JSON: patient, encounter, need_patient_banner, smart_style_url, fhirContext
  expires_at INTEGER NOT NULL
);

-- One /authorize request in progress (the pages' server-side state).
CREATE TABLE authorize_requests (
  request_id TEXT PRIMARY KEY,
  csrf TEXT NOT NULL,
  client_id TEXT NOT NULL,
  params TEXT NOT NULL,               -- JSON: redirect_uri, scope, state, nonce, code_challenge, launch context
  user_id TEXT,
  patient TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0
);

-- What a user approved for an app (one row per authorization).
CREATE TABLE grants (
  grant_id TEXT PRIMARY KEY,
  practice TEXT NOT NULL,
  client_id TEXT NOT NULL,
  user_id TEXT,                       -- NULL for backend services
  patient TEXT,
  scope TEXT NOT NULL,                -- granted, canonical
  context TEXT NOT NULL,              -- JSON launch context echoed in token responses
  session_hash TEXT,                  -- for online_access: the sign-in session it is tied to
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX grants_patient ON grants(practice, patient, created_at);
CREATE INDEX grants_user ON grants(user_id, created_at);

-- Authorization codes: single use by one atomic UPDATE … WHERE used_at IS NULL.
CREATE TABLE codes (
  code_hash TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT,
  nonce TEXT,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);

-- Refresh tokens: rotated within a family; reuse past the grace window revokes the family.
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  offline INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  rotated_at INTEGER
);
CREATE INDEX refresh_family ON refresh_tokens(family_id);

CREATE TABLE refresh_families (
  family_id TEXT PRIMARY KEY,
  grant_id TEXT NOT NULL,
  revoked_at INTEGER
);

-- Access tokens (opaque; the hash is the key). grant_id is NULL for backend services.
CREATE TABLE access_tokens (
  token_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  grant_id TEXT,
  family_id TEXT,
  practice TEXT NOT NULL,
  user_id TEXT,
  patient TEXT,
  scope TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id);
CREATE INDEX access_tokens_family ON access_tokens(family_id);

-- Client-assertion `jti` values seen, until the assertion would have expired.
CREATE TABLE assertion_jtis (
  client_id TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, jti)
);

-- Who did what: tokens issued and every FHIR access (the patient's access history).
CREATE TABLE audit_events (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  practice TEXT NOT NULL,
  client_id TEXT,
  user_id TEXT,
  patient TEXT,
  action TEXT NOT NULL,               -- token | refresh | revoke | read | search | …
  what TEXT NOT NULL,                 -- e.g. "Observation?category=laboratory" or "Patient/85"
  status INTEGER NOT NULL
);
CREATE INDEX audit_patient ON audit_events(practice, patient, at);
CREATE INDEX audit_client ON audit_events(client_id, at);
