-- dxhub index, schema version 2: the AI job queue and its results.
-- A job is written in the same transaction that indexes its instance, so an instance that was
-- acknowledged always has its jobs; results are never overwritten (a rerun adds new jobs), so
-- the history of every reading is kept.

CREATE TABLE ai_jobs (
  id          INTEGER PRIMARY KEY,
  instance_pk INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  study_pk    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  model       TEXT NOT NULL,
  version     TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL,  -- ms since epoch: queued
  claimed_at  INTEGER,
  finished_at INTEGER
);
CREATE INDEX ai_jobs_pending ON ai_jobs(state, id);
CREATE INDEX ai_jobs_instance ON ai_jobs(instance_pk, model, id);
CREATE INDEX ai_jobs_study ON ai_jobs(study_pk, id);

CREATE TABLE ai_results (
  id            INTEGER PRIMARY KEY,
  job_pk        INTEGER NOT NULL UNIQUE REFERENCES ai_jobs(id) ON DELETE CASCADE,
  status        TEXT NOT NULL CHECK (status IN ('analysed', 'failed')),
  label         TEXT NOT NULL,
  score         REAL NOT NULL,
  risk_score    REAL NOT NULL,
  high_risk     INTEGER NOT NULL,
  reason        TEXT NOT NULL,   -- failure kind and message; empty when analysed
  frames        INTEGER NOT NULL,
  preprocess_ms REAL NOT NULL,
  inference_ms  REAL NOT NULL,
  created_at    INTEGER NOT NULL
);

-- Models an operator disabled (absent: enabled).
CREATE TABLE ai_models_disabled (
  model_id    TEXT PRIMARY KEY,  -- name@version
  disabled_at INTEGER NOT NULL
);

-- Turnaround timestamps per study (ms since epoch): received is studies.received_at.
ALTER TABLE studies ADD COLUMN stable_at INTEGER;
ALTER TABLE studies ADD COLUMN viewed_at INTEGER;
ALTER TABLE studies ADD COLUMN confirmed_at INTEGER;
