-- dxhub index, schema version 16: linking one person's identities by rule. Every patient's
-- other identifiers (OtherPatientIDsSequence entries with an issuer) are kept; an issuer named
-- in patient_link_issuers (a national ID, a regional health card) identifies the person, so two
-- patients who carry the same identifier of such an issuer are linked (patients.person_pk) as
-- an administrator would link them. Expand only.

CREATE TABLE patient_other_ids (
  patient_pk INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  issuer     TEXT NOT NULL,
  other_id   TEXT NOT NULL,
  PRIMARY KEY (patient_pk, issuer, other_id)
);
CREATE INDEX patient_other_ids_value ON patient_other_ids(issuer, other_id);
CREATE TABLE patient_link_issuers (
  issuer     TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
