-- dxhub index, schema version 5: the image-processing job queue (bone removal, lungs, vessels,
-- meshes, MPR/MIP, DSA). Durable like the AI queue: a job accepted is a committed row, a job a
-- dead process left running is picked up again at the next start.

CREATE TABLE processing_jobs (
  id           INTEGER PRIMARY KEY,
  series_pk    INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
  operation    TEXT NOT NULL,
  params       TEXT NOT NULL DEFAULT '{}',  -- JSON, as requested
  state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
  progress     REAL NOT NULL DEFAULT 0,     -- 0 .. 1
  stage        TEXT NOT NULL DEFAULT '',    -- what it is doing now, for people
  attempts     INTEGER NOT NULL DEFAULT 0,
  requested_by TEXT NOT NULL,
  error        TEXT NOT NULL DEFAULT '',
  result       TEXT NOT NULL DEFAULT '{}',  -- JSON: derived series, files, measurements
  created_at   INTEGER NOT NULL,            -- ms since epoch
  started_at   INTEGER,
  finished_at  INTEGER
);
CREATE INDEX processing_jobs_state ON processing_jobs(state, id);
CREATE INDEX processing_jobs_series ON processing_jobs(series_pk, id);
