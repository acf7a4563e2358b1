#pragma once
// Schema migrations shared by the engines: versioned .sql files per engine, applied in order,
// each in its own transaction, by whichever process holds the engine's migration lock.
//
// Migrations are additive unless a file says otherwise (expand / contract): a node of the
// previous version keeps working on a schema its successor expanded. A file that removes or
// changes what older binaries rely on starts with the line `-- contract` ; applying it records
// its version in `schema_contracts`, and a binary that does not know that version refuses the
// database with a clear message instead of misreading it.

#include <functional>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dxhub::store::sql {

/// What the runner needs of a connection: run statements, read one integer (the column `v` of
/// the first row).
struct MigrationConnection {
  std::function<Status(std::string_view sql)> exec;
  std::function<Result<int64_t>(std::string_view sql)> query_int;
  /// Runs `body` in one transaction (committed on Ok, rolled back otherwise).
  std::function<Status(const std::function<Status()>& body)> in_transaction;
};

/// Brings the schema up to `migrations.size()`; returns the version the database is at (which
/// may be newer than this binary, when compatible). Call with the migration lock held.
Result<int> Migrate(const MigrationConnection& conn,
                    const std::vector<std::string_view>& migrations, std::string_view engine);

}  // namespace dxhub::store::sql
