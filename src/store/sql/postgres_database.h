#pragma once
// The scale-out engine: PostgreSQL (15 or newer) through libpq, shared by any number of dxhub
// nodes. See docs/database.md for why libpq and how to run PostgreSQL highly available.
//
// Each node holds a bounded pool of connections (PostgreSQL's default max_connections of 100
// fits ten nodes at the default of 8). A write is one transaction on one pooled connection,
// retried on a serialization failure, a deadlock or a connection lost before its COMMIT was
// sent; a connection lost during COMMIT is reported as an error (the outcome is unknown, so no
// caller may answer success). Broken connections are dropped and new ones opened on demand, so
// the node reconnects by itself when the database comes back.

#include <string>

#include "store/sql/database.h"

namespace dxhub::store::sql {

struct PostgresOptions {
  /// libpq connection URI, e.g. postgresql://dxhub@db1:5432/dxhub (password from ~/.pgpass,
  /// PGPASSFILE or PGPASSWORD, never from the command line).
  std::string url;
  /// Connections this node may hold at once.
  int pool_size = 8;
  /// Shown in pg_stat_activity: which node holds a connection.
  std::string application_name = "dxhub";
  /// How long a caller waits for a free pooled connection before failing as unavailable.
  int wait_for_connection_ms = 10000;
};

/// Connects, takes the migration lock, brings the schema up to date and returns the pool.
Result<DatabasePtr> OpenPostgres(const PostgresOptions& options);

/// True for an index location that names PostgreSQL (`postgresql://` or `postgres://`).
bool IsPostgresUrl(const std::string& location);

}  // namespace dxhub::store::sql
