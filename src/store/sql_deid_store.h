#pragma once
// DeidStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/deid_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<DeidStore> MakeSqlDeidStore(sql::Database& db);

}  // namespace dxhub::store
