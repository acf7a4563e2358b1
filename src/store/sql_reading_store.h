#pragma once
// ReadingStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/reading_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<ReadingStore> MakeSqlReadingStore(sql::Database& db);

}  // namespace dxhub::store
