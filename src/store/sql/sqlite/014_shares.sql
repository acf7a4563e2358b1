-- dxhub index, schema version 14: sharing a study. A link share opens a read-only viewer without
-- an account (for the patient, or an outside doctor) until it expires or is revoked, optionally
-- behind an access code; an institution share lets another institution's users see the study
-- until it is revoked. Only hashes of link tokens and codes are stored. Expand only.

CREATE TABLE shares (
  id             INTEGER PRIMARY KEY,
  study_pk       INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  kind           TEXT NOT NULL CHECK (kind IN ('link', 'institution')),
  token_hash     TEXT UNIQUE,                  -- link: SHA-256 of its token
  code_hash      TEXT NOT NULL DEFAULT '',     -- link: argon2id of its access code; '' none
  institution_pk INTEGER REFERENCES institutions(id) ON DELETE CASCADE,  -- institution share
  recipient      TEXT NOT NULL DEFAULT '',     -- whom it is for, as the sharer wrote it
  created_by     TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,                      -- NULL: until revoked
  revoked_at     INTEGER,
  revoked_by     TEXT NOT NULL DEFAULT '',
  opened         INTEGER NOT NULL DEFAULT 0,   -- how often the link was opened
  last_opened_at INTEGER
);
CREATE INDEX shares_study ON shares(study_pk);
CREATE INDEX shares_institution ON shares(institution_pk, study_pk);

-- An opened link: the browser holds the grant (a cookie for that link only) and shows it with
-- every image it asks for, so the access code is checked once per opening.
CREATE TABLE share_grants (
  token_hash TEXT PRIMARY KEY,  -- SHA-256 of the grant
  share_pk   INTEGER NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
);
