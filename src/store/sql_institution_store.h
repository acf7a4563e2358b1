#pragma once
// InstitutionStore over sql::Database (SQLite or PostgreSQL).

#include <memory>

#include "store/institution_store.h"
#include "store/sql/database.h"

namespace dxhub::store {

std::unique_ptr<InstitutionStore> MakeSqlInstitutionStore(sql::Database& db);

}  // namespace dxhub::store
