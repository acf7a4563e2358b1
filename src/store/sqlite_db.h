#pragma once
// Thin RAII wrappers over the SQLite C API: a connection and a prepared statement. Only the
// SQLite backend of StudyIndex uses them.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dxhub::store::sqlite {

class Db {
 public:
  static Result<Db> Open(const std::string& path, bool create);
  Db() = default;
  ~Db();
  Db(Db&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  /// Runs one or more statements that return no rows.
  Status Exec(std::string_view sql);
  Error LastError(std::string_view what) const;

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  static Result<Stmt> Prepare(const Db& db, std::string_view sql);
  Stmt() = default;
  ~Stmt();
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_), db_(other.db_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int index, std::string_view value);
  Stmt& Bind(int index, int64_t value);
  Stmt& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Stmt& Bind(int index, double value);
  Stmt& BindNull(int index);
  /// Steps once: true when a row is available, false when done; errors are values.
  Result<bool> Step();
  /// Steps to completion for statements without rows.
  Status Run();
  void Reset();

  std::string Text(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;

 private:
  Stmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

/// Runs `stmt` to completion, calling `row(stmt)` for each result row.
template <typename F>
Status ForEachRow(Stmt& stmt, F&& row) {
  for (;;) {
    auto has = stmt.Step();
    if (!has.ok())
      return has.error();
    if (!*has)
      return Ok();
    row(stmt);
  }
}

/// What code beside the SQLite index (the AI store) needs of it: writes run on its one
/// group-committing writer thread inside a transaction (each in its own savepoint), reads on a
/// pooled read connection.
class Access {
 public:
  virtual ~Access() = default;
  /// Runs `op` in the writer's transaction and waits until it is committed (durable) or failed.
  virtual Status Write(std::function<Status(const Db&)> op) = 0;
  /// Runs `op` on a read connection (a consistent snapshot for its duration).
  virtual Status Read(const std::function<Status(const Db&)>& op) = 0;
};

}  // namespace dxhub::store::sqlite
