-- dxhub index, schema version 13: remote reading. A clinic asks the hospital's radiologists to
-- read a study (a read request, made by a user or by a rule of the clinic's); one radiologist
-- claims it, writes a report and signs it. A signed report is never edited: an addendum is the
-- next version, with its own DICOM SR and PDF in the study. Expand only.

-- At most one open (requested or claimed) request per study; a signed or cancelled one stays
-- on record for the turnaround statistics.
CREATE TABLE read_requests (
  id             INTEGER PRIMARY KEY,
  study_pk       INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  institution_pk INTEGER REFERENCES institutions(id),  -- the requesting institution
  priority       TEXT NOT NULL CHECK (priority IN ('stat', 'urgent', 'routine')),
  reason         TEXT NOT NULL DEFAULT '',
  requested_by   TEXT NOT NULL,               -- a username, or "rule:<modality>"
  requested_at   INTEGER NOT NULL,            -- ms since epoch
  due_at         INTEGER NOT NULL,            -- requested_at + the priority's turnaround target
  status         TEXT NOT NULL DEFAULT 'requested'
                 CHECK (status IN ('requested', 'claimed', 'signed', 'cancelled')),
  claimed_by     TEXT NOT NULL DEFAULT '',
  claimed_at     INTEGER,
  closed_at      INTEGER                      -- signed or cancelled
);
CREATE UNIQUE INDEX read_requests_open ON read_requests(study_pk)
  WHERE status IN ('requested', 'claimed');
CREATE INDEX read_requests_queue ON read_requests(status, due_at);
CREATE INDEX read_requests_closed ON read_requests(institution_pk, closed_at);

-- A clinic's standing requests: every study of `modality` (any, when '') it sends is requested
-- when the study is complete (stable).
CREATE TABLE read_rules (
  institution_pk INTEGER NOT NULL REFERENCES institutions(id) ON DELETE CASCADE,
  modality       TEXT NOT NULL,
  priority       TEXT NOT NULL CHECK (priority IN ('stat', 'urgent', 'routine')),
  PRIMARY KEY (institution_pk, modality)
);
CREATE INDEX studies_stable ON studies(stable_at);

-- Report versions of a study: 1 the report, 2.. addenda. A draft is edited by its author only;
-- signing freezes it and records the DICOM objects written for it.
CREATE TABLE reports (
  id          INTEGER PRIMARY KEY,
  study_pk    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  request_pk  INTEGER REFERENCES read_requests(id),
  version     INTEGER NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('draft', 'signed')),
  findings    TEXT NOT NULL DEFAULT '',
  impression  TEXT NOT NULL DEFAULT '',
  author      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  signed_at   INTEGER,
  sr_uid      TEXT NOT NULL DEFAULT '',  -- SOP Instance UID of its Basic Text SR
  pdf_uid     TEXT NOT NULL DEFAULT '',  -- of its Encapsulated PDF
  UNIQUE (study_pk, version)
);
