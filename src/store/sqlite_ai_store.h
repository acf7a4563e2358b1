#pragma once
// The SQLite implementation of AiStore, on the SQLite index's writer and read connections.

#include <memory>

#include "store/ai_store.h"
#include "store/sqlite_db.h"

namespace dxhub::store {

std::unique_ptr<AiStore> MakeSqliteAiStore(sqlite::Access& db);

}  // namespace dxhub::store
