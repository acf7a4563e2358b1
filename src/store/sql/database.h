#pragma once
// One SQL database behind the stores, whichever engine holds it. Every store (index, AI jobs,
// users, reviews, processing) is written once against `Transaction` and `Stmt`; what differs per
// engine is in `Dialect` (a few SQL fragments) and the schema files under `sql/<engine>/`.
//
// Statements use named parameters (`:name`) and rows are read by column name, so a statement and
// the code that reads it cannot drift apart by position. Give every computed column an alias
// (`COALESCE(r.label, '') AS label`); a column read that the statement does not return is a
// programming error and aborts.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "store/sql/dialect.h"

namespace dxhub::store::sql {

/// A prepared statement on one connection. Not thread-safe: it belongs to the transaction that
/// prepared it. Engines implement it; stores use it through `Stmt`.
class Statement {
 public:
  virtual ~Statement() = default;
  virtual void BindText(std::string_view name, std::string_view value) = 0;
  virtual void BindInt(std::string_view name, int64_t value) = 0;
  virtual void BindDouble(std::string_view name, double value) = 0;
  virtual void BindNull(std::string_view name) = 0;
  /// Executes on the first call; true while a row is available, false when done.
  virtual Result<bool> Step() = 0;
  virtual std::string Text(std::string_view column) const = 0;
  virtual int64_t Int(std::string_view column) const = 0;
  virtual double Double(std::string_view column) const = 0;
  virtual bool IsNull(std::string_view column) const = 0;
  /// Rows inserted, updated or deleted by the statement once it is done.
  virtual int64_t Changes() const = 0;
  /// Clears bindings and results so the statement can run again.
  virtual void Reset() = 0;
};

/// Gives a statement back to its connection's cache (or frees it) when the Stmt goes.
struct StatementRelease {
  std::function<void(Statement*)> release;
  void operator()(Statement* s) const;
};
using StatementPtr = std::unique_ptr<Statement, StatementRelease>;

/// What stores hold: a prepared statement with chainable binds.
class Stmt {
 public:
  explicit Stmt(StatementPtr impl) : impl_(std::move(impl)) {}
  Stmt(Stmt&&) noexcept = default;
  Stmt& operator=(Stmt&&) noexcept = default;

  Stmt& Bind(std::string_view name, std::string_view value) {
    impl_->BindText(name, value);
    return *this;
  }
  Stmt& Bind(std::string_view name, const std::string& value) {
    return Bind(name, std::string_view(value));
  }
  Stmt& Bind(std::string_view name, const char* value) {
    return Bind(name, std::string_view(value));
  }
  Stmt& Bind(std::string_view name, int64_t value) {
    impl_->BindInt(name, value);
    return *this;
  }
  Stmt& Bind(std::string_view name, int value) { return Bind(name, static_cast<int64_t>(value)); }
  Stmt& Bind(std::string_view name, double value) {
    impl_->BindDouble(name, value);
    return *this;
  }
  Stmt& Bind(std::string_view name, bool value) = delete;  // store flags as 0/1 explicitly
  Stmt& BindNull(std::string_view name) {
    impl_->BindNull(name);
    return *this;
  }

  Result<bool> Step() { return impl_->Step(); }
  /// Steps to completion (statements without rows, or whose rows are not needed).
  Status Run();
  /// Steps to completion, calling `row(*this)` for each row.
  template <typename F>
  Status ForEach(F&& row) {
    for (;;) {
      auto has = Step();
      if (!has.ok())
        return has.error();
      if (!*has)
        return Ok();
      row(static_cast<const Stmt&>(*this));
    }
  }
  void Reset() { impl_->Reset(); }

  std::string Text(std::string_view column) const { return impl_->Text(column); }
  int64_t Int(std::string_view column) const { return impl_->Int(column); }
  double Double(std::string_view column) const { return impl_->Double(column); }
  bool IsNull(std::string_view column) const { return impl_->IsNull(column); }
  int64_t Changes() const { return impl_->Changes(); }

 private:
  StatementPtr impl_;
};

/// One transaction on one connection. Valid only inside the Database call that handed it out.
class Transaction {
 public:
  virtual ~Transaction() = default;
  virtual const Dialect& dialect() const = 0;
  /// Prepares `sql` (named parameters). Fixed statements are cached per connection; pass
  /// `cache = false` for text built per call (query filters) so the cache stays small.
  virtual Result<Stmt> Prepare(std::string_view sql, bool cache = true) = 0;
  /// Runs statements without parameters or rows (DDL, several separated by ';').
  virtual Status Exec(std::string_view sql) = 0;
};

/// A database the stores share. Thread-safe.
class Database {
 public:
  virtual ~Database() = default;
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  virtual const Dialect& dialect() const = 0;

  /// Runs `op` in a read-write transaction and returns once it is committed and durable, or
  /// failed (nothing of it committed). `op` may run more than once (PostgreSQL retries a
  /// serialization failure, a deadlock or a connection lost before the commit), so it must
  /// start from scratch each time: clear what it collects, touch nothing outside the database.
  /// SQLite runs concurrent writes in one group-committed transaction, each in a savepoint of
  /// its own: one failing write does not fail the others.
  virtual Status Write(const std::function<Status(Transaction&)>& op) = 0;

  /// Runs `op` on a read connection: a consistent snapshot for its duration.
  virtual Status Read(const std::function<Status(Transaction&)>& op) = 0;

  /// The schema version this database is at (after the migrations this binary applied).
  virtual int SchemaVersion() const = 0;
  /// For logs and /healthz: the engine and where it is, without credentials.
  virtual std::string Describe() const = 0;
};

using DatabasePtr = std::unique_ptr<Database>;

/// The name of the i-th parameter of a statement built per call ("a0", "a1", ...).
std::string NumberedParam(size_t i);

}  // namespace dxhub::store::sql
