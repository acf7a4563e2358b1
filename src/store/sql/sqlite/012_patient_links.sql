-- dxhub index, schema version 12: the regional patient index. One person may be a patient at
-- several institutions (P001 issued by clinic A, 88231 by the hospital); an administrator links
-- such identities, and the study page shows the person's history across them. A group of linked
-- patients shares person_pk, the smallest patient id of the group; NULL: linked to nobody.
-- Expand only: older binaries ignore the column.

ALTER TABLE patients ADD COLUMN person_pk INTEGER;
CREATE INDEX patients_person ON patients(person_pk) WHERE person_pk IS NOT NULL;
CREATE INDEX patients_identity ON patients(patient_id, issuer);
