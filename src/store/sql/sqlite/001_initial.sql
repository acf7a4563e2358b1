-- dxhub index, schema version 1 (SQLite).
-- Counts per level are maintained by triggers so every writer (ingest, import, later deletes)
-- keeps them right without repeating the bookkeeping in code.

CREATE TABLE patients (
  id           INTEGER PRIMARY KEY,
  -- Identity is the PatientID (as in Orthanc); anonymised data with an empty PatientID is told
  -- apart by name, so unrelated anonymous patients are not merged into one.
  patient_key  TEXT NOT NULL UNIQUE,
  patient_id   TEXT NOT NULL,
  patient_name TEXT NOT NULL,
  birth_date   TEXT NOT NULL,
  sex          TEXT NOT NULL,
  num_studies  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX patients_id ON patients(patient_id);

CREATE TABLE studies (
  id                  INTEGER PRIMARY KEY,
  study_uid           TEXT NOT NULL UNIQUE,
  patient_pk          INTEGER NOT NULL REFERENCES patients(id),
  study_date          TEXT NOT NULL,
  study_time          TEXT NOT NULL,
  accession_number    TEXT NOT NULL,
  study_description   TEXT NOT NULL,
  study_id            TEXT NOT NULL,
  referring_physician TEXT NOT NULL,
  num_series          INTEGER NOT NULL DEFAULT 0,
  num_instances       INTEGER NOT NULL DEFAULT 0,
  received_at         INTEGER NOT NULL,  -- ms since epoch, first instance
  updated_at          INTEGER NOT NULL   -- ms since epoch, latest instance
);
CREATE INDEX studies_patient ON studies(patient_pk);
CREATE INDEX studies_date ON studies(study_date, study_time);
CREATE INDEX studies_received ON studies(received_at);
CREATE INDEX studies_accession ON studies(accession_number);

CREATE TABLE series (
  id                 INTEGER PRIMARY KEY,
  series_uid         TEXT NOT NULL UNIQUE,
  study_pk           INTEGER NOT NULL REFERENCES studies(id),
  modality           TEXT NOT NULL,
  series_number      INTEGER NOT NULL,
  series_description TEXT NOT NULL,
  body_part          TEXT NOT NULL,
  num_instances      INTEGER NOT NULL DEFAULT 0,
  received_at        INTEGER NOT NULL
);
CREATE INDEX series_study ON series(study_pk);
CREATE INDEX series_modality ON series(modality, study_pk);

CREATE TABLE instances (
  id              INTEGER PRIMARY KEY,
  sop_uid         TEXT NOT NULL UNIQUE,
  series_pk       INTEGER NOT NULL REFERENCES series(id),
  sop_class_uid   TEXT NOT NULL,
  instance_number INTEGER NOT NULL,
  transfer_syntax TEXT NOT NULL,
  rows            INTEGER NOT NULL,
  columns         INTEGER NOT NULL,
  frames          INTEGER NOT NULL,
  charset         TEXT NOT NULL,
  blob_key        TEXT NOT NULL UNIQUE,
  size            INTEGER NOT NULL,
  sha256          TEXT NOT NULL,
  source          TEXT NOT NULL,      -- calling AE title, 'import', ...
  received_at     INTEGER NOT NULL
);
CREATE INDEX instances_series ON instances(series_pk, instance_number);

CREATE TRIGGER instances_ai AFTER INSERT ON instances BEGIN
  UPDATE series SET num_instances = num_instances + 1 WHERE id = NEW.series_pk;
  UPDATE studies SET num_instances = num_instances + 1
    WHERE id = (SELECT study_pk FROM series WHERE id = NEW.series_pk);
END;
CREATE TRIGGER instances_ad AFTER DELETE ON instances BEGIN
  UPDATE series SET num_instances = num_instances - 1 WHERE id = OLD.series_pk;
  UPDATE studies SET num_instances = num_instances - 1
    WHERE id = (SELECT study_pk FROM series WHERE id = OLD.series_pk);
END;
CREATE TRIGGER instances_move AFTER UPDATE OF series_pk ON instances
  WHEN OLD.series_pk <> NEW.series_pk BEGIN
  UPDATE series SET num_instances = num_instances - 1 WHERE id = OLD.series_pk;
  UPDATE studies SET num_instances = num_instances - 1
    WHERE id = (SELECT study_pk FROM series WHERE id = OLD.series_pk);
  UPDATE series SET num_instances = num_instances + 1 WHERE id = NEW.series_pk;
  UPDATE studies SET num_instances = num_instances + 1
    WHERE id = (SELECT study_pk FROM series WHERE id = NEW.series_pk);
END;
CREATE TRIGGER series_ai AFTER INSERT ON series BEGIN
  UPDATE studies SET num_series = num_series + 1 WHERE id = NEW.study_pk;
END;
CREATE TRIGGER series_ad AFTER DELETE ON series BEGIN
  UPDATE studies SET num_series = num_series - 1 WHERE id = OLD.study_pk;
END;
CREATE TRIGGER studies_ai AFTER INSERT ON studies BEGIN
  UPDATE patients SET num_studies = num_studies + 1 WHERE id = NEW.patient_pk;
END;
CREATE TRIGGER studies_ad AFTER DELETE ON studies BEGIN
  UPDATE patients SET num_studies = num_studies - 1 WHERE id = OLD.patient_pk;
END;
CREATE TRIGGER studies_move AFTER UPDATE OF patient_pk ON studies
  WHEN OLD.patient_pk <> NEW.patient_pk BEGIN
  UPDATE patients SET num_studies = num_studies - 1 WHERE id = OLD.patient_pk;
  UPDATE patients SET num_studies = num_studies + 1 WHERE id = NEW.patient_pk;
END;
