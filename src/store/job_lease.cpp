#include "store/job_lease.h"

#include <string>

#include "store/sql/database.h"

namespace dxhub::store {

Result<bool> AnyExpired(sql::Database& db, const char* table, int64_t now_ms) {
  bool any = false;
  Status st = db.Read([&](sql::Transaction& tx) -> Status {
    any = false;
    auto probe = tx.Prepare(std::string("SELECT 1 AS expired FROM ") + table +
                            " WHERE state = 'running' AND lease_until < :now LIMIT 1");
    if (!probe.ok())
      return probe.error();
    probe->Bind("now", now_ms);
    return probe->ForEach([&](const sql::Stmt&) { any = true; });
  });
  if (!st.ok())
    return st.error();
  return any;
}

Result<bool> AnyPending(sql::Database& db, const char* table) {
  bool any = false;
  Status st = db.Read([&](sql::Transaction& tx) -> Status {
    any = false;
    auto probe = tx.Prepare(std::string("SELECT 1 AS waiting FROM ") + table +
                            " WHERE state = 'pending' LIMIT 1");
    if (!probe.ok())
      return probe.error();
    return probe->ForEach([&](const sql::Stmt&) { any = true; });
  });
  if (!st.ok())
    return st.error();
  return any;
}

}  // namespace dxhub::store
