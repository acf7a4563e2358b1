// `dxhub migrate --data DIR --to postgresql://...`: the SQLite index of DIR into PostgreSQL, so
// several nodes can share the archive. The blobs stay in DIR (point every node's --data at it).

#include <cstdio>
#include <filesystem>

#include "app/commands.h"
#include "store/blob_store.h"
#include "store/index_migration.h"
#include "store/sql/postgres_database.h"
#include "store/sql/sqlite_database.h"

namespace dxhub::app {

int RunMigrate(const Config& config, const MigrateOptions& options) {
  if (!store::sql::IsPostgresUrl(options.to)) {
    std::fprintf(stderr, "dxhub migrate: --to must be a postgresql:// URL\n");
    return 2;
  }
  if (store::sql::IsPostgresUrl(config.index)) {
    std::fprintf(stderr, "dxhub migrate: the archive in %s already uses PostgreSQL\n",
                 config.data_dir.c_str());
    return 2;
  }
  if (!std::filesystem::exists(config.IndexPath())) {
    std::fprintf(stderr, "dxhub migrate: no SQLite index at %s\n", config.IndexPath().c_str());
    return 2;
  }
  if (store::BlobStoreInUse(config.data_dir)) {
    std::fprintf(stderr,
                 "dxhub migrate: a dxhub process is using %s; stop it first (what it receives "
                 "during the copy would be missed)\n",
                 config.data_dir.c_str());
    return 2;
  }
  auto from = store::sql::OpenSqlite(config.IndexPath());
  if (!from.ok()) {
    std::fprintf(stderr, "dxhub migrate: %s\n", from.error().ToString().c_str());
    return 2;
  }
  auto to = store::sql::OpenPostgres(
      store::sql::PostgresOptions{options.to, config.db_pool_size, "dxhub migrate"});
  if (!to.ok()) {
    std::fprintf(stderr, "dxhub migrate: %s\n", to.error().ToString().c_str());
    return 2;
  }
  std::printf("migrate: %s -> %s (schema %d)\n", (*from)->Describe().c_str(),
              (*to)->Describe().c_str(), (*to)->SchemaVersion());
  std::string last_table;
  auto report = store::MigrateIndex(**from, **to, [&](const store::TableMigration& m) {
    if (options.progress) {
      std::printf("  %-20s %lld rows copied\n", m.table.c_str(), static_cast<long long>(m.copied));
      std::fflush(stdout);
    }
  });
  if (!report.ok()) {
    std::fprintf(stderr,
                 "dxhub migrate: %s\n  (run the same command again: it resumes where it "
                 "stopped)\n",
                 report.error().ToString().c_str());
    return 1;
  }
  std::printf("%-20s %12s %12s %12s  %s\n", "table", "source", "target", "copied now", "checksum");
  for (const auto& t : report->tables) {
    std::printf("%-20s %12lld %12lld %12lld  %s%s\n", t.table.c_str(),
                static_cast<long long>(t.source_rows), static_cast<long long>(t.target_rows),
                static_cast<long long>(t.copied), t.source_checksum.c_str(),
                t.Matches() ? "" : ("  MISMATCH (target " + t.target_checksum + ")").c_str());
  }
  if (!report->Verified()) {
    std::printf(
        "migrate: DIFFERENCES FOUND: the target holds rows the source does not (was it empty, "
        "and no node running on it?)\n");
    return 1;
  }
  std::printf(
      "migrate: OK, every table verified by count and checksum. Start the nodes with "
      "--data %s --index %s\n",
      config.data_dir.c_str(), options.to.c_str());
  return 0;
}

}  // namespace dxhub::app
