#include "store/sql/postgres_database.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "store/sql/migrations.h"
#include "store/sql/postgresql_migrations.h"

namespace dxhub::store::sql {
namespace {

constexpr Dialect kDialect{Engine::kPostgres};
constexpr int kMaxAttempts = 4;
constexpr size_t kMaxCachedStatements = 128;
// Any 64-bit number of our own: the key of the advisory lock migrations run under.
constexpr int64_t kMigrationLock = 0x6478687562'000001;  // "dxhub", 1

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

[[noreturn]] void Misuse(std::string_view what, std::string_view name, std::string_view sql) {
  spdlog::critical("sql: {} '{}' in: {}", what, name, sql);
  std::abort();
}

bool IsConnectionState(std::string_view sqlstate) {
  // 08: connection exceptions; 57P01-3: the server is shutting down or starting.
  return sqlstate.substr(0, 2) == "08" || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

// What a failed statement or connection means to the caller.
Error ErrorOf(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* field = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view sqlstate = field != nullptr ? field : "";
  ErrorCode code = ErrorCode::kDatabase;
  // Worth retrying: the connection or server went away, a serialization failure, a deadlock,
  // too many connections.
  const bool transient = PQstatus(conn) == CONNECTION_BAD || IsConnectionState(sqlstate) ||
                         sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "53300";
  if (transient)
    code = ErrorCode::kUnavailable;
  else if (sqlstate == "53100")
    code = ErrorCode::kDiskFull;
  std::string message("postgresql ");
  message += what;
  message += ": ";
  const char* text = res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  message += (text != nullptr && *text != '\0') ? text : PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return MakeError(code, std::move(message));
}

class PgConnection;

class PgStatement final : public Statement {
 public:
  PgStatement(PgConnection& conn, const PositionalSql& sql, std::string prepared_name)
      : conn_(conn),
        sql_(sql),
        prepared_name_(std::move(prepared_name)),
        values_(sql.names.size()) {}

  void BindText(std::string_view name, std::string_view value) override {
    values_[Parameter(name)] = std::string(value);
  }
  void BindInt(std::string_view name, int64_t value) override {
    values_[Parameter(name)] = std::to_string(value);
  }
  void BindDouble(std::string_view name, double value) override {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    values_[Parameter(name)] = ec == std::errc() ? std::string(buf, end) : std::string("NaN");
  }
  void BindNull(std::string_view name) override { values_[Parameter(name)].reset(); }

  Result<bool> Step() override;

  std::string Text(std::string_view column) const override {
    const int col = Column(column);
    if (PQgetisnull(res_.get(), row_, col))
      return {};
    return std::string(PQgetvalue(res_.get(), row_, col),
                       static_cast<size_t>(PQgetlength(res_.get(), row_, col)));
  }
  int64_t Int(std::string_view column) const override {
    const int col = Column(column);
    if (PQgetisnull(res_.get(), row_, col))
      return 0;
    const char* p = PQgetvalue(res_.get(), row_, col);
    return std::strtoll(p, nullptr, 10);
  }
  double Double(std::string_view column) const override {
    const int col = Column(column);
    if (PQgetisnull(res_.get(), row_, col))
      return 0;
    return std::strtod(PQgetvalue(res_.get(), row_, col), nullptr);
  }
  bool IsNull(std::string_view column) const override {
    return PQgetisnull(res_.get(), row_, Column(column)) != 0;
  }
  int64_t Changes() const override { return changes_; }

  void Reset() override {
    res_.reset();
    row_ = -1;
    changes_ = 0;
    executed_ = false;
    for (auto& v : values_)
      v.reset();
  }

  bool in_use = false;

 private:
  size_t Parameter(std::string_view name) const {
    for (size_t i = 0; i < sql_.names.size(); ++i) {
      if (sql_.names[i] == name)
        return i;
    }
    Misuse("no parameter", name, sql_.text);
  }
  int Column(std::string_view name) const {
    if (res_ == nullptr || row_ < 0)
      Misuse("no row to read", name, sql_.text);
    for (int i = 0; i < PQnfields(res_.get()); ++i) {
      if (name == PQfname(res_.get(), i))
        return i;
    }
    Misuse("no column", name, sql_.text);
  }

  PgConnection& conn_;
  const PositionalSql& sql_;   // owned by the connection's cache (or by the uncached holder)
  std::string prepared_name_;  // empty: run unprepared
  std::vector<std::optional<std::string>> values_;
  PgResult res_;
  int row_ = -1;
  int64_t changes_ = 0;
  bool executed_ = false;
};

// One server connection, its prepared statements, and the transaction on it.
class PgConnection final : public Transaction {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override {
    cache_.clear();
    PQfinish(conn_);
  }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  PGconn* raw() const { return conn_; }
  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

  const Dialect& dialect() const override { return kDialect; }

  Result<Stmt> Prepare(std::string_view sql, bool cache) override {
    if (!cache) {
      // The text travels with the statement; the holder owns both.
      auto holder = std::make_unique<Uncached>(ToPositional(sql));
      holder->statement = std::make_unique<PgStatement>(*this, holder->sql, std::string());
      Statement* s = holder->statement.get();
      return Stmt(StatementPtr(
          s, StatementRelease{[h = std::shared_ptr<Uncached>(std::move(holder))](Statement*) {}}));
    }
    const std::string key(sql);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      if (cache_.size() >= kMaxCachedStatements)
        return Prepare(sql, /*cache=*/false);
      Cached entry;
      entry.sql = ToPositional(sql);
      entry.name = "dx" + std::to_string(++prepared_count_);
      PgResult res(PQprepare(conn_, entry.name.c_str(), entry.sql.text.c_str(),
                             static_cast<int>(entry.sql.names.size()), nullptr));
      if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
        return ErrorOf(conn_, res.get(), "prepare");
      it = cache_.emplace(key, std::make_unique<Cached>(std::move(entry))).first;
      it->second->statement =
          std::make_unique<PgStatement>(*this, it->second->sql, it->second->name);
    }
    Cached& entry = *it->second;
    if (entry.statement->in_use) {
      // The same statement twice at once (nested loops): a second, unprepared copy.
      return Prepare(sql, /*cache=*/false);
    }
    entry.statement->in_use = true;
    return Stmt(StatementPtr(entry.statement.get(), StatementRelease{[](Statement* s) {
                               s->Reset();
                               static_cast<PgStatement*>(s)->in_use = false;
                             }}));
  }

  Status Exec(std::string_view sql) override {
    const std::string text(sql);
    PgResult res(PQexec(conn_, text.c_str()));
    const auto status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      return ErrorOf(conn_, res.get(), "exec");
    last_command_ = PQcmdStatus(res.get());
    return Ok();
  }

  // Column `v` of the first row, 0 when none.
  Result<int64_t> QueryInt(std::string_view sql) {
    auto stmt = Prepare(sql, /*cache=*/false);
    if (!stmt.ok())
      return stmt.error();
    auto row = stmt->Step();
    if (!row.ok())
      return row.error();
    return *row ? stmt->Int("v") : int64_t{0};
  }

  /// The command tag of the last Exec ("COMMIT", or "ROLLBACK" when the transaction had failed).
  const std::string& last_command() const { return last_command_; }

 private:
  struct Cached {
    PositionalSql sql;
    std::string name;
    std::unique_ptr<PgStatement> statement;
  };
  struct Uncached {
    explicit Uncached(PositionalSql s) : sql(std::move(s)) {}
    PositionalSql sql;
    std::unique_ptr<PgStatement> statement;
  };

  PGconn* conn_;
  std::unordered_map<std::string, std::unique_ptr<Cached>> cache_;
  int prepared_count_ = 0;
  std::string last_command_;
};

Result<bool> PgStatement::Step() {
  if (!executed_) {
    executed_ = true;
    std::vector<const char*> values(values_.size());
    for (size_t i = 0; i < values_.size(); ++i)
      values[i] = values_[i] ? values_[i]->c_str() : nullptr;
    const int n = static_cast<int>(values.size());
    PGresult* raw = prepared_name_.empty()
                        ? PQexecParams(conn_.raw(), sql_.text.c_str(), n, nullptr, values.data(),
                                       nullptr, nullptr, 0)
                        : PQexecPrepared(conn_.raw(), prepared_name_.c_str(), n, values.data(),
                                         nullptr, nullptr, 0);
    res_.reset(raw);
    const auto status = PQresultStatus(raw);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      Error error = ErrorOf(conn_.raw(), raw, "statement");
      res_.reset();
      return error;
    }
    const char* tuples = PQcmdTuples(raw);
    changes_ = (tuples != nullptr && *tuples != '\0') ? std::strtoll(tuples, nullptr, 10) : 0;
    row_ = -1;
  }
  if (res_ == nullptr)
    return false;
  if (row_ + 1 < PQntuples(res_.get())) {
    ++row_;
    return true;
  }
  return false;
}

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(PostgresOptions options) : options_(std::move(options)) {
    if (options_.pool_size < 1)
      options_.pool_size = 1;
  }

  Status Init() {
    auto conn = Connect();
    if (!conn.ok())
      return conn.error();
    PgConnection& c = **conn;
    describe_ = "postgresql://";
    describe_ += PQuser(c.raw());
    describe_ += '@';
    describe_ += PQhost(c.raw());
    describe_ += ':';
    describe_ += PQport(c.raw());
    describe_ += '/';
    describe_ += PQdb(c.raw());
    if (PQserverVersion(c.raw()) < 150000) {
      return MakeError(ErrorCode::kUnsupported, describe_ + " runs PostgreSQL " +
                                                    std::to_string(PQserverVersion(c.raw())) +
                                                    "; dxhub needs 15 or newer");
    }
    // Nodes starting together: one migrates, the others wait for it and find nothing to do.
    DXHUB_TRY(c.Exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")"));
    std::vector<std::string_view> files(std::begin(kPostgresMigrations),
                                        std::end(kPostgresMigrations));
    MigrationConnection mc{[&c](std::string_view sql) { return c.Exec(sql); },
                           [&c](std::string_view sql) { return c.QueryInt(sql); },
                           [&c](const std::function<Status()>& body) -> Status {
                             DXHUB_TRY(c.Exec("BEGIN"));
                             Status st = body();
                             if (!st.ok()) {
                               (void)c.Exec("ROLLBACK");
                               return st;
                             }
                             return c.Exec("COMMIT");
                           }};
    auto version = Migrate(mc, files, kDialect.name());
    (void)c.Exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
    if (!version.ok())
      return version.error();
    schema_version_ = *version;
    Return(std::move(conn.value()));
    return Ok();
  }

  const Dialect& dialect() const override { return kDialect; }
  int SchemaVersion() const override { return schema_version_; }
  std::string Describe() const override { return describe_; }

  Status Write(const std::function<Status(Transaction&)>& op) override {
    Status last = Ok();
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      auto borrowed = Borrow();
      if (!borrowed.ok())
        return borrowed.error();
      std::unique_ptr<PgConnection> conn = std::move(borrowed.value());
      bool retry = false;
      last = WriteOnce(*conn, op, retry);
      Return(std::move(conn));
      if (last.ok() || !retry)
        return last;
      spdlog::debug("index: write attempt {} failed, retrying: {}", attempt, last.error().message);
    }
    return last;
  }

  Status Read(const std::function<Status(Transaction&)>& op) override {
    Status last = Ok();
    for (int attempt = 1; attempt <= 2; ++attempt) {
      auto borrowed = Borrow();
      if (!borrowed.ok())
        return borrowed.error();
      std::unique_ptr<PgConnection> conn = std::move(borrowed.value());
      last = conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      if (last.ok()) {
        last = op(*conn);
        Status end = conn->Exec(last.ok() ? "COMMIT" : "ROLLBACK");
        if (last.ok() && !end.ok())
          last = end;
      }
      const bool lost = !conn->healthy();
      Return(std::move(conn));
      if (last.ok() || !lost)
        return last;
    }
    return last;
  }

 private:
  // One attempt; `retry` says whether running `op` again may succeed where this failed.
  Status WriteOnce(PgConnection& conn, const std::function<Status(Transaction&)>& op, bool& retry) {
    retry = false;
    Status begin = conn.Exec("BEGIN");
    if (!begin.ok()) {
      retry = !conn.healthy();
      return begin;
    }
    Status st = op(conn);
    if (!st.ok()) {
      (void)conn.Exec("ROLLBACK");
      // Nothing was committed: a deadlock, a serialization failure or a lost connection may
      // pass on another try.
      retry = !conn.healthy() || st.error().code == ErrorCode::kUnavailable;
      return st;
    }
    Status commit = conn.Exec("COMMIT");
    if (!commit.ok()) {
      if (!conn.healthy()) {
        return MakeError(ErrorCode::kUnavailable,
                         "postgresql: connection lost during COMMIT (outcome unknown): " +
                             commit.error().message);
      }
      retry = commit.error().code == ErrorCode::kUnavailable;
      return commit;
    }
    if (conn.last_command() != "COMMIT") {
      // A statement failed and the store carried on: PostgreSQL rolled the transaction back.
      return MakeError(ErrorCode::kDatabase,
                       "postgresql: transaction rolled back (a statement "
                       "in it failed)");
    }
    return Ok();
  }

  Result<std::unique_ptr<PgConnection>> Connect() {
    // Ours first: anything the URL sets overrides them.
    const std::string timeout = "5";
    const std::string keepalive_idle = "30";
    const std::string user_timeout = "15000";
    const char* keys[] = {"application_name", "connect_timeout", "keepalives_idle",
                          "tcp_user_timeout", "dbname",          nullptr};
    const char* values[] = {options_.application_name.c_str(),
                            timeout.c_str(),
                            keepalive_idle.c_str(),
                            user_timeout.c_str(),
                            options_.url.c_str(),
                            nullptr};
    PGconn* raw = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    auto conn = std::make_unique<PgConnection>(raw);  // owns raw even on failure
    if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
      std::string message = raw != nullptr ? PQerrorMessage(raw) : "out of memory";
      while (!message.empty() && message.back() == '\n')
        message.pop_back();
      return MakeError(ErrorCode::kUnavailable, "postgresql: cannot connect: " + message);
    }
    // Server notices ("already exists, skipping") go to the log, not to stderr.
    PQsetNoticeProcessor(
        raw, [](void*, const char* message) { spdlog::debug("postgresql: {}", message); }, nullptr);
    // A node that stalls inside a transaction must not hold its locks for ever.
    DXHUB_TRY(conn->Exec("SET idle_in_transaction_session_timeout = '60s'"));
    // A C-STORE answered Success must survive a crash of the database server: where the server
    // defaults to asynchronous commit, this node's sessions commit synchronously anyway (a
    // stricter setting the DBA chose, such as remote_apply, stays).
    DXHUB_TRY(
        conn->Exec("SELECT set_config('synchronous_commit', 'on', false) WHERE "
                   "current_setting('synchronous_commit') = 'off'"));
    return conn;
  }

  Result<std::unique_ptr<PgConnection>> Borrow() {
    {
      std::unique_lock lock(mu_);
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(options_.wait_for_connection_ms);
      for (;;) {
        if (!idle_.empty()) {
          auto conn = std::move(idle_.back());
          idle_.pop_back();
          return conn;
        }
        if (open_ < options_.pool_size) {
          ++open_;  // reserved; connect outside the lock
          break;
        }
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= options_.pool_size) {
          return MakeError(
              ErrorCode::kUnavailable,
              "postgresql: all " + std::to_string(options_.pool_size) + " pooled connections busy");
        }
      }
    }
    auto conn = Connect();
    if (!conn.ok()) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
    }
    return conn;
  }

  void Return(std::unique_ptr<PgConnection> conn) {
    std::lock_guard lock(mu_);
    if (conn->healthy() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;  // dropped: the next borrower connects afresh
      if (!conn->healthy()) {
        // The server went away (a restart, a failover): the idle connections to it are as
        // dead as this one, only not yet noticed. Drop them too, so a retry connects afresh
        // instead of finding the next stale one.
        open_ -= static_cast<int>(idle_.size());
        idle_.clear();
      }
    }
    cv_.notify_one();
  }

  PostgresOptions options_;
  std::string describe_;
  int schema_version_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  int open_ = 0;                                     // guarded by mu_: idle and lent
};

}  // namespace

bool IsPostgresUrl(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

Result<DatabasePtr> OpenPostgres(const PostgresOptions& options) {
  auto db = std::make_unique<PostgresDatabase>(options);
  DXHUB_TRY(db->Init());
  return DatabasePtr(std::move(db));
}

}  // namespace dxhub::store::sql
