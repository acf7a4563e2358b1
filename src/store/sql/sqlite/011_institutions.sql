-- dxhub index, schema version 11: institutions. A region's main hospital and its clinics share
-- one archive; each study belongs to the institution that sent it, users belong to one, and what
-- a user or a DICOM node may see is the studies of its institution and of those it reads for.
-- Patients are (PatientID, IssuerOfPatientID): a clinic that sends no issuer gets its
-- institution's, so two clinics' "P001" stay two patients. Expand only: older binaries ignore the
-- new table and columns (and see every study, as before).

CREATE TABLE institutions (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  issuer     TEXT NOT NULL DEFAULT '',  -- IssuerOfPatientID for its senders' patients without one
  created_at INTEGER NOT NULL           -- ms since epoch
);
-- The lower-case name (and aliases) an incoming InstitutionName is matched against, the last rule.
CREATE TABLE institution_names (
  name           TEXT PRIMARY KEY,      -- lower case
  institution_pk INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE
);
-- Which calling AE titles (from which address; '' any) send for an institution.
CREATE TABLE institution_senders (
  aet            TEXT NOT NULL,
  host           TEXT NOT NULL DEFAULT '',
  institution_pk INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,
  PRIMARY KEY (aet, host)
);
-- A reading institution (the hospital's radiologists) sees the studies of those it reads for.
CREATE TABLE institution_reads_for (
  reader_pk INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,
  served_pk INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,
  PRIMARY KEY (reader_pk, served_pk)
);

ALTER TABLE patients ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN institution_pk INTEGER REFERENCES institutions(id);
CREATE INDEX studies_institution ON studies(institution_pk, study_date, study_time);
ALTER TABLE users ADD COLUMN institution_pk INTEGER REFERENCES institutions(id);
