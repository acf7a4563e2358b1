#pragma once
// ShareStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/share_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<ShareStore> MakeSqlShareStore(sql::Database& db);

}  // namespace dxhub::store
