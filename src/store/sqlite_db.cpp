#include "store/sqlite_db.h"

namespace dxhub::store::sqlite {

Result<Db> Db::Open(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);  // owns raw even on failure
  if (rc != SQLITE_OK) {
    return MakeError(ErrorCode::kDatabase,
                     "open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  // Another process (dxhub import beside dxhub serve) may hold the write lock for a while.
  sqlite3_busy_timeout(raw, 30000);
  return db;
}

Db::~Db() {
  if (db_ != nullptr)
    sqlite3_close_v2(db_);
}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr)
      sqlite3_close_v2(db_);
    db_ = other.db_;
    other.db_ = nullptr;
  }
  return *this;
}

Error Db::LastError(std::string_view what) const {
  int code = sqlite3_extended_errcode(db_);
  ErrorCode ec = ((code & 0xff) == SQLITE_FULL) ? ErrorCode::kDiskFull : ErrorCode::kDatabase;
  return MakeError(ec, std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "unknown error";
    sqlite3_free(err);
    return MakeError(ErrorCode::kDatabase, message);
  }
  return Ok();
}

Result<Stmt> Stmt::Prepare(const Db& db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    return db.LastError("prepare");
  }
  return Stmt(raw, db.get());
}

Stmt::~Stmt() {
  if (stmt_ != nullptr)
    sqlite3_finalize(stmt_);
}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr)
      sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    db_ = other.db_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Stmt& Stmt::Bind(int index, std::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Stmt& Stmt::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Stmt& Stmt::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  int code = sqlite3_extended_errcode(db_);
  ErrorCode ec = ((code & 0xff) == SQLITE_FULL) ? ErrorCode::kDiskFull : ErrorCode::kDatabase;
  return MakeError(ec, std::string("sqlite: ") + sqlite3_errmsg(db_));
}

Status Stmt::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok())
      return row.error();
    if (!*row)
      return Ok();
  }
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Stmt::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr)
    return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

int64_t Stmt::Int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

double Stmt::Double(int col) const {
  return sqlite3_column_double(stmt_, col);
}

}  // namespace dxhub::store::sqlite
