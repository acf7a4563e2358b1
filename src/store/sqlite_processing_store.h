#pragma once
// The SQLite implementation of ProcessingStore, on the SQLite index's writer and read
// connections.

#include <memory>

#include "store/processing_store.h"
#include "store/sqlite_db.h"

namespace dxhub::store {

std::unique_ptr<ProcessingStore> MakeSqliteProcessingStore(sqlite::Access& db);

}  // namespace dxhub::store
