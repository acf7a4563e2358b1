-- dxhub index, schema version 9: each study carries its patient's name, so a search by name
-- (a prefix such as "zha*", case-insensitive) is filtered on the study rows the date-ordered
-- walk already reads, instead of looking the patient up for every study it passes (at
-- 1,000,000 studies that lookup was three quarters of a paged name search; bench/RESULTS.md).
-- patients.patient_name stays the name; this is its copy, kept equal by every write of an
-- instance (sql_study_index.cpp). Expand only: an older binary leaves the copy of the studies
-- it writes empty until the next instance of that patient arrives through a newer node.
-- Same column as sqlite/009_study_patient_name.sql.

ALTER TABLE studies ADD COLUMN patient_name TEXT NOT NULL DEFAULT '';
UPDATE studies SET patient_name = (SELECT p.patient_name FROM patients p WHERE p.id = studies.patient_pk);
