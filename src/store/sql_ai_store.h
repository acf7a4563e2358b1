#pragma once
// AiStore over sql::Database (SQLite or PostgreSQL), and the job insert ingest runs in the same
// transaction as the instance it queues jobs for.

#include <cstdint>
#include <memory>
#include <vector>

#include "store/ai_store.h"
#include "store/job_lease.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<AiStore> MakeSqlAiStore(sql::Database& db, JobLease lease);

/// Queues one pending job per spec for an instance. Inside a write transaction.
Status EnqueueAiJobs(sql::Transaction& tx, int64_t instance_pk, int64_t study_pk,
                     const std::vector<AiJobSpec>& specs, int64_t now_ms);

}  // namespace dxhub::store
