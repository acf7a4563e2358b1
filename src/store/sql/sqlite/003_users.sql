-- dxhub index, schema version 3: accounts, sessions, API tokens and the audit log.
-- Secrets are never stored: passwords as argon2id hashes, session and API tokens as SHA-256 of
-- 256 random bits (enough entropy that a fast hash is safe).

CREATE TABLE users (
  id                  INTEGER PRIMARY KEY,
  username            TEXT NOT NULL UNIQUE,
  display_name        TEXT NOT NULL DEFAULT '',
  role                TEXT NOT NULL CHECK (role IN ('admin', 'radiologist', 'clinician', 'viewer')),
  password_hash       TEXT NOT NULL,
  disabled            INTEGER NOT NULL DEFAULT 0,
  failed_logins       INTEGER NOT NULL DEFAULT 0,
  locked_until        INTEGER NOT NULL DEFAULT 0,  -- ms since epoch
  created_at          INTEGER NOT NULL,
  password_changed_at INTEGER NOT NULL
);

CREATE TABLE sessions (
  token_hash   TEXT PRIMARY KEY,
  user_pk      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_token   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  remote       TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_pk);

CREATE TABLE api_tokens (
  id         INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  user_pk    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,  -- 0: no expiry
  revoked_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit_log (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  username TEXT NOT NULL,
  action   TEXT NOT NULL,   -- e.g. study.read, image.view, login.failed, decision.confirm
  object   TEXT NOT NULL,   -- e.g. a Study Instance UID
  remote   TEXT NOT NULL,
  detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit_log(at);
CREATE INDEX audit_user ON audit_log(username, at);
