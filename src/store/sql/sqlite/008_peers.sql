-- dxhub index, schema version 8: the remote DICOM nodes and DICOMweb servers an administrator
-- adds through /api/peers live in the database, so every node sharing it sees the same
-- directory (C-MOVE destinations, query/retrieve peers, connection tests). Peers in a node's
-- config file stay that node's own. Expand only: older binaries ignore the table.

CREATE TABLE peers (
  name       TEXT PRIMARY KEY,    -- unique across both kinds: /api/peers/NAME addresses either
  kind       TEXT NOT NULL CHECK (kind IN ('dicom', 'dicomweb')),
  aet        TEXT NOT NULL DEFAULT '',
  host       TEXT NOT NULL DEFAULT '',
  port       INTEGER NOT NULL DEFAULT 0,
  query      INTEGER NOT NULL DEFAULT 0,  -- may query and retrieve (C-FIND, C-GET, C-MOVE)
  allow_from TEXT NOT NULL DEFAULT '',    -- IPs or CIDR ranges, one per line; '': host's addresses
  tls        INTEGER NOT NULL DEFAULT 0,
  ca         TEXT NOT NULL DEFAULT '',    -- PEM file on each node
  url        TEXT NOT NULL DEFAULT '',    -- DICOMweb base URL
  token      TEXT NOT NULL DEFAULT '',    -- bearer token sent to a DICOMweb peer; never listed
  updated_at INTEGER NOT NULL,            -- ms since epoch
  updated_by TEXT NOT NULL
);
