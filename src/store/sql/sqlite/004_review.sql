-- dxhub index, schema version 4: doctors' decisions on AI findings and the worklist's per-study
-- review state.
-- Decisions are never updated: a changed mind is a new row, so who decided what and when stays
-- on record; the latest row per image (or per study) is the one in force.

CREATE TABLE decisions (
  id          INTEGER PRIMARY KEY,
  study_pk    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  instance_pk INTEGER REFERENCES instances(id) ON DELETE CASCADE,  -- NULL: the whole study
  result_pk   INTEGER REFERENCES ai_results(id),  -- the AI reading decided on, if any
  model       TEXT NOT NULL DEFAULT '',
  version     TEXT NOT NULL DEFAULT '',
  verdict     TEXT NOT NULL CHECK (verdict IN ('confirm', 'reject')),
  comment     TEXT NOT NULL DEFAULT '',
  username    TEXT NOT NULL,
  at          INTEGER NOT NULL  -- ms since epoch
);
CREATE INDEX decisions_study ON decisions(study_pk, id);
CREATE INDEX decisions_instance ON decisions(instance_pk, id);
CREATE INDEX decisions_model ON decisions(model, version);

-- What the worklist sorts and filters on, kept beside the study so a page of 100,000 studies is
-- one indexed scan instead of folding every AI job. Rewritten whenever AI results land or a
-- decision is made (in the same transaction). The counts shown on a page are recomputed live.
CREATE TABLE study_review (
  study_pk      INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
  high_risk     INTEGER NOT NULL DEFAULT 0,  -- images whose latest reading is high-risk
  failed        INTEGER NOT NULL DEFAULT 0,
  highest_risk  REAL NOT NULL DEFAULT 0,
  label         TEXT NOT NULL DEFAULT '',    -- label of the riskiest high-risk reading
  -- none: nothing to confirm; awaiting: high-risk findings not yet decided; partial: some
  -- decided; confirmed / rejected: all decided (confirmed if any finding was confirmed).
  status        TEXT NOT NULL DEFAULT 'none'
                CHECK (status IN ('none', 'awaiting', 'partial', 'confirmed', 'rejected')),
  reviewed_by   TEXT NOT NULL DEFAULT '',
  updated_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX study_review_status ON study_review(status, highest_risk);

-- The worklist's "AI still running" filter looks for a study's unfinished jobs.
CREATE INDEX ai_jobs_study_state ON ai_jobs(study_pk, state);
