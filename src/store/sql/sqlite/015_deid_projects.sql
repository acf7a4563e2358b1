-- contract: a researcher must not become a viewer (who sees patient data) on a node that
-- does not know the role, so nodes older than this schema refuse it.
-- dxhub index, schema version 15: de-identified research exports. A project fixes the profile
-- options and is its own pseudonym space; its members (researchers) download its exports, each
-- a list of studies chosen by a user who may see them, de-identified as they are downloaded.
-- `secrets` holds the key the pseudonyms are made with, one for the whole cluster, never sent
-- out. Users gain research_only: a researcher is stored as a viewer marked research-only.

CREATE TABLE secrets (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL  -- hex
);
CREATE TABLE deid_projects (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  retain_dates         INTEGER NOT NULL DEFAULT 0,
  retain_patient_chars INTEGER NOT NULL DEFAULT 0,
  clean_descriptors    INTEGER NOT NULL DEFAULT 0,
  created_by           TEXT NOT NULL,
  created_at           INTEGER NOT NULL
);
CREATE TABLE deid_project_members (
  project_pk INTEGER NOT NULL REFERENCES deid_projects(id) ON DELETE CASCADE,
  username   TEXT NOT NULL,
  PRIMARY KEY (project_pk, username)
);
CREATE TABLE deid_exports (
  id          INTEGER PRIMARY KEY,
  project_pk  INTEGER NOT NULL REFERENCES deid_projects(id) ON DELETE CASCADE,
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  study_uids  TEXT NOT NULL  -- backslash-separated, as chosen
);
CREATE INDEX deid_exports_project ON deid_exports(project_pk, id);

ALTER TABLE users ADD COLUMN research_only INTEGER NOT NULL DEFAULT 0;
