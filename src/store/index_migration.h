#pragma once
// Moves an index from one database to another (SQLite to PostgreSQL, for `dxhub migrate`):
// every table, in batches, resumable, verified per table by row counts and an order-independent
// checksum of every value. The blobs stay where they are; only the index moves.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/sql/database.h"

namespace dxhub::store {

struct TableMigration {
  std::string table;
  int64_t source_rows = 0;
  int64_t copied = 0;  // rows inserted by this run (a resumed run skips what is there)
  int64_t target_rows = 0;
  std::string source_checksum;
  std::string target_checksum;
  bool Matches() const { return source_rows == target_rows && source_checksum == target_checksum; }
};

struct MigrationReport {
  std::vector<TableMigration> tables;
  bool Verified() const {
    for (const auto& t : tables) {
      if (!t.Matches())
        return false;
    }
    return !tables.empty();
  }
};

/// Copies every table of the SQLite index `from` into `to` (at the same schema version, both
/// migrated by their Open), then verifies. Rows already in `to` (an earlier, interrupted run)
/// are kept and skipped. `progress` is called after each batch. `to` must have no other writer
/// while it runs: stop every dxhub node first.
Result<MigrationReport> MigrateIndex(sql::Database& from, sql::Database& to,
                                     const std::function<void(const TableMigration&)>& progress);

}  // namespace dxhub::store
