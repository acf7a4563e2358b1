#include "store/job_lease.h"

#include <optional>
#include <string>

#include "store/sql/database.h"

namespace dxhub::store {
namespace {

// Whether `table` has a job matching `condition`: one read that stops at the first row, on the
// partial or state index the condition names. `now_ms` binds :now when the condition uses it.
Result<bool> AnyJob(sql::Database& db, const char* table, const char* condition,
                    std::optional<int64_t> now_ms) {
  bool any = false;
  Status st = db.Read([&](sql::Transaction& tx) -> Status {
    any = false;
    auto probe = tx.Prepare(std::string("SELECT 1 AS found FROM ") + table + " WHERE " + condition +
                            " LIMIT 1");
    if (!probe.ok())
      return probe.error();
    if (now_ms)
      probe->Bind("now", *now_ms);
    return probe->ForEach([&](const sql::Stmt&) { any = true; });
  });
  if (!st.ok())
    return st.error();
  return any;
}

}  // namespace

Result<bool> AnyExpired(sql::Database& db, const char* table, int64_t now_ms) {
  return AnyJob(db, table, "state = 'running' AND lease_until < :now", now_ms);
}

Result<bool> AnyPending(sql::Database& db, const char* table) {
  return AnyJob(db, table, "state = 'pending'", std::nullopt);
}

}  // namespace dxhub::store
