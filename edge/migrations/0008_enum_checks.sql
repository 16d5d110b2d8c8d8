-- The columns that hold one of a fixed set of words (statuses, roles,
-- methods, kinds) accept only those words (issue 14). The sets are the
-- enums of `edge/src/store` (`sql_enum!`): ClientStatus, AuthMethod, Role,
-- ExportKind, ExportStatus, CredentialKind.
--
-- SQLite cannot add a CHECK to an existing column, so each table is rebuilt:
-- created anew with its checks, filled from the old one (column by column,
-- in the old order), the old one dropped, the new one renamed, and its
-- indexes created again. No table has foreign keys or triggers, so nothing
-- refers to the dropped tables (D1 runs with foreign keys on). A row holding
-- any other word makes its INSERT fail, and with it the migration: such a
-- row would have been an error for the code already.

CREATE TABLE clients_new (
  client_id TEXT PRIMARY KEY,
  practice TEXT NOT NULL,
  name TEXT NOT NULL,
  auth_method TEXT NOT NULL
    CHECK (auth_method IN ('none', 'client_secret_basic', 'private_key_jwt')),
  secret_hash TEXT,
  jwks TEXT,
  jwks_uri TEXT,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  scope TEXT NOT NULL,
  pending_scope TEXT,
  launch_uri TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('pending', 'approved', 'rejected', 'disabled')),
  status_reason TEXT,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  owner_developer TEXT,
  transfer_to TEXT,
  secret_issued_at INTEGER,
  scope_change_reason TEXT
);
INSERT INTO clients_new (client_id, practice, name, auth_method, secret_hash, jwks, jwks_uri,
  redirect_uris, grant_types, scope, pending_scope, launch_uri, status, status_reason, metadata,
  created_at, updated_at, owner_developer, transfer_to, secret_issued_at, scope_change_reason)
SELECT client_id, practice, name, auth_method, secret_hash, jwks, jwks_uri,
  redirect_uris, grant_types, scope, pending_scope, launch_uri, status, status_reason, metadata,
  created_at, updated_at, owner_developer, transfer_to, secret_issued_at, scope_change_reason
FROM clients;
DROP TABLE clients;
ALTER TABLE clients_new RENAME TO clients;
CREATE INDEX clients_practice ON clients(practice, status);
CREATE INDEX clients_owner ON clients(owner_developer);
CREATE INDEX clients_transfer ON clients(transfer_to);

CREATE TABLE users_new (
  user_id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  practice TEXT NOT NULL,
  fhir_user TEXT NOT NULL,
  display_name TEXT,
  password_hash TEXT NOT NULL,
  failed_signins INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('member', 'practice_admin', 'test_patient'))
);
INSERT INTO users_new (user_id, username, practice, fhir_user, display_name, password_hash,
  failed_signins, locked_until, created_at, role)
SELECT user_id, username, practice, fhir_user, display_name, password_hash,
  failed_signins, locked_until, created_at, role
FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE TABLE developer_sessions_new (
  session_hash TEXT PRIMARY KEY,
  developer_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER
);
INSERT INTO developer_sessions_new (session_hash, developer_id, kind, created_at, expires_at, ended_at)
SELECT session_hash, developer_id, kind, created_at, expires_at, ended_at
FROM developer_sessions;
DROP TABLE developer_sessions;
ALTER TABLE developer_sessions_new RENAME TO developer_sessions;
CREATE INDEX developer_sessions_developer ON developer_sessions(developer_id);

CREATE TABLE export_jobs_new (
  job_id TEXT PRIMARY KEY,
  practice TEXT NOT NULL,
  client_id TEXT NOT NULL,
  request TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('group', 'patient', 'system')),
  params TEXT NOT NULL,
  members TEXT NOT NULL,
  transaction_time INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  output TEXT NOT NULL,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER
);
INSERT INTO export_jobs_new (job_id, practice, client_id, request, kind, params, members,
  transaction_time, status, state, version, lease_until, output, error, created_at, updated_at, expires_at)
SELECT job_id, practice, client_id, request, kind, params, members,
  transaction_time, status, state, version, lease_until, output, error, created_at, updated_at, expires_at
FROM export_jobs;
DROP TABLE export_jobs;
ALTER TABLE export_jobs_new RENAME TO export_jobs;
CREATE INDEX export_jobs_client ON export_jobs(practice, client_id, status);
CREATE INDEX export_jobs_expiry ON export_jobs(expires_at);
