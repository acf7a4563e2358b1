#pragma once
// ProcessingStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/job_lease.h"
#include "store/processing_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<ProcessingStore> MakeSqlProcessingStore(sql::Database& db, JobLease lease);

}  // namespace dxhub::store
