#pragma once
// ClusterStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/cluster_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<ClusterStore> MakeSqlClusterStore(sql::Database& db);

}  // namespace dxhub::store
