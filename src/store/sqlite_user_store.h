#pragma once
// The SQLite implementation of UserStore, on the SQLite index's writer and read connections.

#include <memory>

#include "store/sqlite_db.h"
#include "store/user_store.h"

namespace dxhub::store {

std::unique_ptr<UserStore> MakeSqliteUserStore(sqlite::Access& db);

}  // namespace dxhub::store
