#pragma once
// UserStore written once over sql::Database, so SQLite and PostgreSQL run the same logic.

#include <memory>

#include "store/sql/database.h"
#include "store/user_store.h"

namespace dxhub::store {

std::unique_ptr<UserStore> MakeSqlUserStore(sql::Database& db);

}  // namespace dxhub::store
