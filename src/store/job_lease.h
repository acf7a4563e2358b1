#pragma once
// Who claims background jobs, and for how long. Several nodes share one job queue; a node's
// claim is a lease it renews while it works (ClusterStore::Heartbeat), so a job whose node died
// goes back to the queue when the lease runs out, and only the claimer may complete it.

#include <cstdint>
#include <string>

#include "core/result.h"

namespace dxhub::store {

struct JobLease {
  std::string node = "local";  // this node's name, unique in the cluster
  int64_t lease_ms = 30000;    // how long a claim holds without renewal
};

namespace sql {
class Database;
}

/// Whether `table` (ai_jobs or processing_jobs) has a running job whose lease ran out before
/// `now_ms`: a read on the partial lease index, so the check every node runs costs no write.
Result<bool> AnyExpired(sql::Database& db, const char* table, int64_t now_ms);

/// Whether `table` has a job waiting: the read an idle worker polls with, so that a quiet cluster's
/// workers write nothing (a claim is a write: SQLite's one writer, a PostgreSQL transaction).
Result<bool> AnyPending(sql::Database& db, const char* table);

}  // namespace dxhub::store
