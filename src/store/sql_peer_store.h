#pragma once
// PeerStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/peer_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<PeerStore> MakeSqlPeerStore(sql::Database& db);

}  // namespace dxhub::store
