-- dxhub index, schema version 7: several nodes on one database. A node claims a job for a lease
-- it renews while it works; a job whose lease ran out (its node died or lost the database) goes
-- back to pending and another node takes it, once. Expand only: older binaries ignore the new
-- columns and table.

ALTER TABLE ai_jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE ai_jobs ADD COLUMN lease_until INTEGER;  -- ms since epoch
CREATE INDEX ai_jobs_lease ON ai_jobs(lease_until) WHERE state = 'running';

ALTER TABLE processing_jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE processing_jobs ADD COLUMN lease_until INTEGER;
CREATE INDEX processing_jobs_lease ON processing_jobs(lease_until) WHERE state = 'running';

-- The nodes sharing this database, each renewing its row while it runs (the cluster page).
CREATE TABLE nodes (
  name         TEXT PRIMARY KEY,
  version      TEXT NOT NULL,
  http_url     TEXT NOT NULL,   -- where its web UI and API answer, as it was told or guessed
  dicom_port   INTEGER NOT NULL,
  pid          INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,  -- ms since epoch
  heartbeat_at INTEGER NOT NULL,
  load         REAL NOT NULL DEFAULT 0,  -- 1-minute load average of its machine
  ingested     INTEGER NOT NULL DEFAULT 0,  -- instances stored through this node since it started
  taken_over   INTEGER NOT NULL DEFAULT 0   -- jobs of dead nodes it requeued since it started
);
