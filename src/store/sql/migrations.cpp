#include "store/sql/migrations.h"

#include <spdlog/spdlog.h>

#include <string>

namespace dxhub::store::sql {
namespace {

bool IsContract(std::string_view sql) {
  return sql.substr(0, 11) == "-- contract";
}

}  // namespace

Result<int> Migrate(const MigrationConnection& conn,
                    const std::vector<std::string_view>& migrations, std::string_view engine) {
  DXHUB_TRY(
      conn.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"));
  DXHUB_TRY(conn.exec("CREATE TABLE IF NOT EXISTS schema_contracts (version INTEGER PRIMARY KEY)"));
  auto current = conn.query_int("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version");
  if (!current.ok())
    return current.error();
  const int latest = static_cast<int>(migrations.size());
  const int version = static_cast<int>(*current);
  if (version > latest) {
    auto contract = conn.query_int("SELECT COALESCE(MAX(version), 0) AS v FROM schema_contracts");
    if (!contract.ok())
      return contract.error();
    if (*contract > latest) {
      return MakeError(ErrorCode::kDatabase,
                       "index schema version " + std::to_string(version) + " (" +
                           std::string(engine) + ") is newer than this dxhub knows (" +
                           std::to_string(latest) + ") and not compatible with it since version " +
                           std::to_string(*contract) + ": upgrade this node");
    }
    spdlog::warn(
        "index: schema version {} is newer than this dxhub knows ({}); running on it, as its "
        "additions are compatible",
        version, latest);
    return version;
  }
  for (int v = version + 1; v <= latest; ++v) {
    const std::string_view sql = migrations[static_cast<size_t>(v - 1)];
    Status st = conn.in_transaction([&]() -> Status {
      DXHUB_TRY(conn.exec(sql));
      if (IsContract(sql)) {
        DXHUB_TRY(
            conn.exec("INSERT INTO schema_contracts(version) VALUES (" + std::to_string(v) + ")"));
      }
      return conn.exec("INSERT INTO schema_version(version) VALUES (" + std::to_string(v) + ")");
    });
    if (!st.ok()) {
      return MakeError(ErrorCode::kDatabase, "migration " + std::to_string(v) + " (" +
                                                 std::string(engine) +
                                                 ") failed: " + st.error().message);
    }
    spdlog::info("index: migrated {} schema to version {}", engine, v);
  }
  return latest;
}

}  // namespace dxhub::store::sql
