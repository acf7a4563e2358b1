-- dxhub index, schema version 10: an instance row may be committed while its blob's fsync is
-- still running, so that the commit's own sync overlaps the file's instead of following it
-- (store/archive.h). Until the file is known to be durable the row names the temp area that holds
-- it; recovery checks the rows of a dead area against their blobs and removes those whose bytes
-- never reached the disk (they were never acknowledged). Expand only: an older binary neither
-- sets nor reads the column.

ALTER TABLE instances ADD COLUMN pending_area TEXT;
CREATE INDEX instances_pending ON instances(pending_area) WHERE pending_area IS NOT NULL;
