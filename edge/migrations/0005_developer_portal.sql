-- The developer portal (`/developer`) and practice administration
-- (`/practice`). Like 0003, this lives in DB_0 (the directory shard).
-- Passwords, PINs, session ids and tokens are stored only as hashes.

-- Practice users have a role: `member` (clinicians, patients) or
-- `practice_admin` (approves the apps that may reach the practice's data).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member';

-- App developers: not practice users; they sign in to /developer only.
CREATE TABLE developers (
  developer_id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  display_name TEXT NOT NULL,
  password_hash TEXT NOT NULL,        -- pbkdf2-sha256$iterations$salt$hash
  failed_signins INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER NOT NULL DEFAULT 0,
  failed_pins INTEGER NOT NULL DEFAULT 0,    -- wrong practice PINs in a row
  pin_locked_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);

-- Developer sign-in sessions (cookie flare_dev_session) and API tokens
-- (Bearer; the initial access token of RFC 7591 registration).
CREATE TABLE developer_sessions (
  session_hash TEXT PRIMARY KEY,
  developer_id TEXT NOT NULL,
  kind TEXT NOT NULL,                 -- session | api
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER
);
CREATE INDEX developer_sessions_developer ON developer_sessions(developer_id);

-- Each practice's registration PIN (PBKDF2 hash; the operator sets it).
CREATE TABLE practice_pins (
  practice TEXT PRIMARY KEY,
  pin_hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Apps registered through the developer portal belong to a developer.
ALTER TABLE clients ADD COLUMN owner_developer TEXT;
-- A proposed ownership transfer: the recipient developer, until they accept.
ALTER TABLE clients ADD COLUMN transfer_to TEXT;
-- Set once the first client secret was shown (developer-owned apps get
-- their secret after approval, exactly once; later only by rotation).
ALTER TABLE clients ADD COLUMN secret_issued_at INTEGER;
-- Why the last scope change was rejected (cleared by the next request).
ALTER TABLE clients ADD COLUMN scope_change_reason TEXT;
CREATE INDEX clients_owner ON clients(owner_developer);
CREATE INDEX clients_transfer ON clients(transfer_to);
