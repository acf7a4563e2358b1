#include "store/sql/sqlite_database.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/thread_priority.h"
#include "store/sql/migrations.h"
#include "store/sql/sqlite_migrations.h"

namespace dxhub::store::sql {
namespace {

constexpr size_t kMaxBatch = 256;
constexpr size_t kMaxReaders = 8;
constexpr size_t kMaxCachedStatements = 128;
constexpr Dialect kDialect{Engine::kSqlite};

[[noreturn]] void Misuse(std::string_view what, std::string_view name, const char* sql) {
  spdlog::critical("sql: {} '{}' in: {}", what, name, sql != nullptr ? sql : "");
  std::abort();
}

Error ErrorOf(sqlite3* db, std::string_view what) {
  const int code = sqlite3_extended_errcode(db);
  const ErrorCode ec = ((code & 0xff) == SQLITE_FULL) ? ErrorCode::kDiskFull : ErrorCode::kDatabase;
  std::string message(what);
  message += ": ";
  message += sqlite3_errmsg(db);
  return MakeError(ec, std::move(message));
}

class SqliteStatement final : public Statement {
 public:
  SqliteStatement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  void BindText(std::string_view name, std::string_view value) override {
    sqlite3_bind_text(stmt_, Parameter(name), value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
  }
  void BindInt(std::string_view name, int64_t value) override {
    sqlite3_bind_int64(stmt_, Parameter(name), value);
  }
  void BindDouble(std::string_view name, double value) override {
    sqlite3_bind_double(stmt_, Parameter(name), value);
  }
  void BindNull(std::string_view name) override { sqlite3_bind_null(stmt_, Parameter(name)); }

  Result<bool> Step() override {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
      return true;
    if (rc == SQLITE_DONE) {
      changes_ = sqlite3_changes64(db_);
      return false;
    }
    return ErrorOf(db_, "sqlite");
  }

  std::string Text(std::string_view column) const override {
    const int col = Column(column);
    const auto* p = sqlite3_column_text(stmt_, col);
    if (p == nullptr)
      return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  int64_t Int(std::string_view column) const override {
    return sqlite3_column_int64(stmt_, Column(column));
  }
  double Double(std::string_view column) const override {
    return sqlite3_column_double(stmt_, Column(column));
  }
  bool IsNull(std::string_view column) const override {
    return sqlite3_column_type(stmt_, Column(column)) == SQLITE_NULL;
  }
  int64_t Changes() const override { return changes_; }

  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    changes_ = 0;
  }

  bool in_use = false;

 private:
  int Parameter(std::string_view name) const {
    std::string key(":");
    key += name;
    const int index = sqlite3_bind_parameter_index(stmt_, key.c_str());
    if (index == 0)
      Misuse("no parameter", name, sqlite3_sql(stmt_));
    return index;
  }

  int Column(std::string_view name) const {
    if (columns_.empty()) {
      const int n = sqlite3_column_count(stmt_);
      columns_.reserve(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i)
        columns_.emplace_back(sqlite3_column_name(stmt_, i));
    }
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == name)
        return static_cast<int>(i);
    }
    Misuse("no column", name, sqlite3_sql(stmt_));
  }

  sqlite3_stmt* stmt_;
  sqlite3* db_;
  int64_t changes_ = 0;
  mutable std::vector<std::string> columns_;  // names by position, read once
};

// One connection and its statement cache. Used by one thread at a time.
class Connection final : public Transaction {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool create) {
    sqlite3* raw = nullptr;
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    auto conn = std::unique_ptr<Connection>(new Connection(raw));  // owns raw even on failure
    if (rc != SQLITE_OK) {
      return MakeError(ErrorCode::kDatabase,
                       "open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(raw, 1);
    // Another process (dxhub import beside dxhub serve) may hold the write lock for a while.
    sqlite3_busy_timeout(raw, 30000);
    DXHUB_TRY(conn->Exec("PRAGMA foreign_keys=ON"));
    return conn;
  }

  ~Connection() override {
    cache_.clear();  // statements before the connection
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const Dialect& dialect() const override { return kDialect; }

  Result<Stmt> Prepare(std::string_view sql, bool cache) override {
    if (cache) {
      auto it = cache_.find(std::string(sql));
      if (it != cache_.end() && !it->second->in_use) {
        it->second->in_use = true;
        return Stmt(StatementPtr(it->second.get(), StatementRelease{[](Statement* s) {
                                   s->Reset();
                                   static_cast<SqliteStatement*>(s)->in_use = false;
                                 }}));
      }
    }
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK) {
      return ErrorOf(db_, "prepare");
    }
    auto statement = std::make_unique<SqliteStatement>(raw, db_);
    if (cache && cache_.size() < kMaxCachedStatements &&
        cache_.find(std::string(sql)) == cache_.end()) {
      SqliteStatement* kept = statement.get();
      kept->in_use = true;
      cache_.emplace(std::string(sql), std::move(statement));
      return Stmt(StatementPtr(kept, StatementRelease{[](Statement* s) {
                                 s->Reset();
                                 static_cast<SqliteStatement*>(s)->in_use = false;
                               }}));
    }
    return Stmt(StatementPtr(statement.release(), StatementRelease{}));
  }

  Status Exec(std::string_view sql) override {
    char* err = nullptr;
    const std::string text(sql);
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = err ? err : "unknown error";
      sqlite3_free(err);
      const int code = sqlite3_extended_errcode(db_);
      return MakeError((code & 0xff) == SQLITE_FULL ? ErrorCode::kDiskFull : ErrorCode::kDatabase,
                       std::move(message));
    }
    return Ok();
  }

  // The column `v` of the first row (0 when none).
  Result<int64_t> QueryInt(std::string_view sql) {
    auto stmt = Prepare(sql, /*cache=*/false);
    if (!stmt.ok())
      return stmt.error();
    auto row = stmt->Step();
    if (!row.ok())
      return row.error();
    return *row ? stmt->Int("v") : int64_t{0};
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> cache_;
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::string path) : path_(std::move(path)) {}

  ~SqliteDatabase() override {
    {
      std::lock_guard lock(write_mu_);
      stopping_ = true;
    }
    write_cv_.notify_all();
    if (writer_thread_.joinable())
      writer_thread_.join();
  }

  Status Init() {
    auto conn = Connection::Open(path_, /*create=*/true);
    if (!conn.ok())
      return conn.error();
    writer_ = std::move(conn.value());
    // temp_store=MEMORY: a write in its savepoint inside the batch's transaction needs a statement
    // journal, which SQLite otherwise makes as a temporary file (created and unlinked at once),
    // about one for every nine instances. On ext4 without a journal, as on the benchmark VM, every
    // new file's inode allocation then skips each inode freed in the last 5 s (the kernel's
    // recently_deleted): a fifth of the CPU at 8 associations went there (perf, bench/RESULTS.md).
    // The writer's statement journals hold a few pages; readers keep file-backed sorts.
    DXHUB_TRY(writer_->Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"));
    std::vector<std::string_view> files(std::begin(kSqliteMigrations), std::end(kSqliteMigrations));
    MigrationConnection mc{[this](std::string_view sql) { return writer_->Exec(sql); },
                           [this](std::string_view sql) { return writer_->QueryInt(sql); },
                           [this](const std::function<Status()>& body) -> Status {
                             DXHUB_TRY(writer_->Exec("BEGIN IMMEDIATE"));
                             Status st = body();
                             if (!st.ok()) {
                               (void)writer_->Exec("ROLLBACK");
                               return st;
                             }
                             return writer_->Exec("COMMIT");
                           }};
    auto version = Migrate(mc, files, kDialect.name());
    if (!version.ok())
      return version.error();
    schema_version_ = *version;
    writer_thread_ = std::thread([this] { WriterLoop(); });
    return Ok();
  }

  const Dialect& dialect() const override { return kDialect; }
  int SchemaVersion() const override { return schema_version_; }
  std::string Describe() const override { return "sqlite " + path_; }

  Status Write(const std::function<Status(Transaction&)>& op) override {
    std::promise<Status> done;
    auto future = done.get_future();
    std::unique_lock lock(write_mu_);
    if (stopping_)
      return MakeError(ErrorCode::kUnavailable, "index is shutting down");
    queue_.push_back(Pending{&op, std::move(done)});
    // With nobody committing, the caller commits its own write (and whatever queued with it):
    // at one association the two thread switches of a hand-over to the writer were a tenth of
    // an instance's time. A background thread (AI, processing) never leads: it could hold the
    // write lock without the CPU to finish while ingest waits for it.
    if (!committing_ && !ThisThreadIsBackground()) {
      committing_ = true;
      std::vector<Pending> batch = TakeBatch();
      lock.unlock();
      CommitBatch(batch);
      lock.lock();
      committing_ = false;
      const bool more = !queue_.empty() || stopping_;
      lock.unlock();
      if (more)
        write_cv_.notify_one();  // what arrived meanwhile goes to the writer thread
    } else {
      lock.unlock();
      write_cv_.notify_one();
    }
    return future.get();
  }

  Status Read(const std::function<Status(Transaction&)>& op) override {
    auto conn = Borrow();
    if (!conn.ok())
      return conn.error();
    Status st = op(**conn);
    Return(std::move(conn.value()));
    return st;
  }

 private:
  struct Pending {
    const std::function<Status(Transaction&)>* op;  // the caller waits, so it outlives this
    std::promise<Status> done;
  };

  Result<std::unique_ptr<Connection>> Borrow() {
    {
      std::lock_guard lock(read_mu_);
      if (!readers_.empty()) {
        auto conn = std::move(readers_.back());
        readers_.pop_back();
        return conn;
      }
    }
    return Connection::Open(path_, /*create=*/false);
  }

  void Return(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(read_mu_);
    if (readers_.size() < kMaxReaders)
      readers_.push_back(std::move(conn));
  }

  // Takes up to kMaxBatch queued writes. Needs write_mu_.
  std::vector<Pending> TakeBatch() {
    std::vector<Pending> batch;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    return batch;
  }

  void WriterLoop() {
    NameThisThread("sqlite-writer");
    for (;;) {
      std::vector<Pending> batch;
      {
        std::unique_lock lock(write_mu_);
        write_cv_.wait(lock, [&] { return !committing_ && (stopping_ || !queue_.empty()); });
        if (queue_.empty())
          return;
        committing_ = true;
        batch = TakeBatch();
      }
      CommitBatch(batch);
      {
        std::lock_guard lock(write_mu_);
        committing_ = false;
      }
    }
  }

  void CommitBatch(std::vector<Pending>& batch) {
    Status begin = writer_->Exec("BEGIN IMMEDIATE");
    if (!begin.ok()) {
      for (auto& p : batch)
        p.done.set_value(begin);
      return;
    }
    // Each write in its own savepoint: one bad write fails alone, not its batch-mates.
    std::vector<Status> results;
    results.reserve(batch.size());
    for (auto& p : batch) {
      (void)writer_->Exec("SAVEPOINT rec");
      Status st = (*p.op)(*writer_);
      if (!st.ok())
        (void)writer_->Exec("ROLLBACK TO rec");
      (void)writer_->Exec("RELEASE rec");
      results.push_back(std::move(st));
    }
    Status commit = writer_->Exec("COMMIT");
    if (!commit.ok()) {
      (void)writer_->Exec("ROLLBACK");
      spdlog::error("index: commit of {} writes failed: {}", batch.size(), commit.error().message);
    }
    for (size_t i = 0; i < batch.size(); ++i)
      batch[i].done.set_value(commit.ok() ? std::move(results[i]) : commit);
  }

  std::string path_;
  int schema_version_ = 0;
  std::unique_ptr<Connection> writer_;  // used by whoever set committing_

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<Pending> queue_;  // guarded by write_mu_
  bool stopping_ = false;      // guarded by write_mu_
  bool committing_ = false;    // guarded by write_mu_: a batch is being committed
  std::thread writer_thread_;

  std::mutex read_mu_;
  std::vector<std::unique_ptr<Connection>> readers_;  // guarded by read_mu_
};

}  // namespace

Result<DatabasePtr> OpenSqlite(const std::string& path) {
  auto db = std::make_unique<SqliteDatabase>(path);
  DXHUB_TRY(db->Init());
  return DatabasePtr(std::move(db));
}

}  // namespace dxhub::store::sql
