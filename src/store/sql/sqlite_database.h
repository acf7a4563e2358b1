#pragma once
// The embedded engine: one SQLite file in WAL mode.
//
// Writes go through one writer thread that commits whatever is queued in one transaction
// ("group commit"): with synchronous=FULL every acknowledged write is on disk, yet N concurrent
// associations cost one WAL fsync per batch instead of N. Reads use a small pool of their own
// connections, which WAL lets run beside the writer.

#include <string>

#include "store/sql/database.h"

namespace dxhub::store::sql {

/// Opens (creating and migrating as needed) the SQLite database at `path`.
Result<DatabasePtr> OpenSqlite(const std::string& path);

}  // namespace dxhub::store::sql
