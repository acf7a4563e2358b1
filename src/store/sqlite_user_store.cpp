#include "store/sqlite_user_store.h"

#include <sqlite3.h>

#include <chrono>

namespace dxhub::store {
namespace {

using sqlite::Db;
using sqlite::Stmt;

constexpr const char* kUserColumns =
    "u.id, u.username, u.display_name, u.role, u.password_hash, u.disabled, u.failed_logins, "
    "u.locked_until, u.created_at";

UserRecord ReadUser(const Stmt& s, int first = 0) {
  UserRecord u;
  u.id = s.Int(first);
  u.username = s.Text(first + 1);
  u.display_name = s.Text(first + 2);
  u.role = s.Text(first + 3);
  u.password_hash = s.Text(first + 4);
  u.disabled = s.Int(first + 5) != 0;
  u.failed_logins = static_cast<int>(s.Int(first + 6));
  u.locked_until_ms = s.Int(first + 7);
  u.created_ms = s.Int(first + 8);
  return u;
}

// Prepares `sql`, lets `bind` bind it, and runs it to completion; kNotFound when `must_change`
// and no row changed.
template <typename Bind>
Status Run(const Db& db, const std::string& sql, Bind&& bind, bool must_change = false) {
  auto stmt = Stmt::Prepare(db, sql);
  if (!stmt.ok())
    return stmt.error();
  bind(*stmt);
  DXHUB_TRY(stmt->Run());
  if (must_change && sqlite3_changes(db.get()) == 0)
    return MakeError(ErrorCode::kNotFound, "no such user");
  return Ok();
}

class SqliteUserStore final : public UserStore {
 public:
  explicit SqliteUserStore(sqlite::Access& db) : db_(db) {}

  Result<int64_t> CountUsers() override {
    int64_t n = 0;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db, "SELECT COUNT(*) FROM users");
      if (!stmt.ok())
        return stmt.error();
      auto row = stmt->Step();
      if (!row.ok())
        return row.error();
      n = stmt->Int(0);
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return n;
  }

  Status CreateUser(const UserRecord& u, int64_t now_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      auto exists = Stmt::Prepare(db, "SELECT 1 FROM users WHERE username = ?1");
      if (!exists.ok())
        return exists.error();
      exists->Bind(1, u.username);
      auto row = exists->Step();
      if (!row.ok())
        return row.error();
      if (*row)
        return MakeError(ErrorCode::kAlreadyExists, "user '" + u.username + "' exists");
      return Run(db,
                 "INSERT INTO users(username, display_name, role, password_hash, disabled, "
                 "created_at, password_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                 [&](Stmt& s) {
                   s.Bind(1, u.username)
                       .Bind(2, u.display_name)
                       .Bind(3, u.role)
                       .Bind(4, u.password_hash)
                       .Bind(5, u.disabled ? 1 : 0)
                       .Bind(6, now_ms);
                 });
    });
  }

  Result<std::optional<UserRecord>> FindUser(const std::string& username) override {
    std::optional<UserRecord> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db, std::string("SELECT ") + kUserColumns + " FROM users u WHERE u.username = ?1");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, username);
      auto row = stmt->Step();
      if (!row.ok())
        return row.error();
      if (*row)
        out = ReadUser(*stmt);
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::vector<UserRecord>> ListUsers() override {
    std::vector<UserRecord> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt =
          Stmt::Prepare(db, std::string("SELECT ") + kUserColumns + " FROM users u ORDER BY id");
      if (!stmt.ok())
        return stmt.error();
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok())
          return row.error();
        if (!*row)
          return Ok();
        out.push_back(ReadUser(*stmt));
      }
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status SetPassword(const std::string& username, const std::string& hash,
                     int64_t now_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      DXHUB_TRY(Run(
          db,
          "UPDATE users SET password_hash = ?2, password_changed_at = ?3, failed_logins = 0, "
          "locked_until = 0 WHERE username = ?1",
          [&](Stmt& s) { s.Bind(1, username).Bind(2, hash).Bind(3, now_ms); }, true));
      DXHUB_TRY(RevokeTokens(db, username, 0, now_ms));
      return EndSessions(db, username);
    });
  }

  Status SetDisabled(const std::string& username, bool disabled) override {
    return db_.Write([&](const Db& db) -> Status {
      DXHUB_TRY(Run(
          db, "UPDATE users SET disabled = ?2 WHERE username = ?1",
          [&](Stmt& s) { s.Bind(1, username).Bind(2, disabled ? 1 : 0); }, true));
      if (!disabled)
        return Ok();
      DXHUB_TRY(RevokeTokens(db, username, 0, NowForRevocation()));
      return EndSessions(db, username);
    });
  }

  Status SetRole(const std::string& username, const std::string& role) override {
    return db_.Write([&](const Db& db) -> Status {
      return Run(
          db, "UPDATE users SET role = ?2 WHERE username = ?1",
          [&](Stmt& s) { s.Bind(1, username).Bind(2, role); }, true);
    });
  }

  Status RecordLogin(const std::string& username, bool success, int lock_after,
                     int64_t lock_until_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      if (success) {
        return Run(db, "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE username = ?1",
                   [&](Stmt& s) { s.Bind(1, username); });
      }
      return Run(db,
                 "UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN "
                 "failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END WHERE username = ?1",
                 [&](Stmt& s) { s.Bind(1, username).Bind(2, lock_after).Bind(3, lock_until_ms); });
    });
  }

  Status CreateSession(const std::string& token_hash, int64_t user_id, const std::string& csrf,
                       int64_t now_ms, int64_t expires_ms, const std::string& remote) override {
    return db_.Write([&](const Db& db) -> Status {
      // Expired sessions are swept here rather than by a timer.
      DXHUB_TRY(Run(db, "DELETE FROM sessions WHERE expires_at <= ?1",
                    [&](Stmt& s) { s.Bind(1, now_ms); }));
      return Run(db,
                 "INSERT INTO sessions(token_hash, user_pk, csrf_token, created_at, expires_at, "
                 "remote) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                 [&](Stmt& s) {
                   s.Bind(1, token_hash)
                       .Bind(2, user_id)
                       .Bind(3, csrf)
                       .Bind(4, now_ms)
                       .Bind(5, expires_ms)
                       .Bind(6, remote);
                 });
    });
  }

  Result<std::optional<SessionRecord>> FindSession(const std::string& token_hash,
                                                   int64_t now_ms) override {
    std::optional<SessionRecord> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db, std::string("SELECT ") + kUserColumns +
                                        ", s.csrf_token, s.expires_at FROM sessions s JOIN users "
                                        "u ON u.id = s.user_pk WHERE s.token_hash = ?1 AND "
                                        "s.expires_at > ?2 AND u.disabled = 0");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, token_hash).Bind(2, now_ms);
      auto row = stmt->Step();
      if (!row.ok())
        return row.error();
      if (*row)
        out = SessionRecord{ReadUser(*stmt), stmt->Text(9), stmt->Int(10)};
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status DeleteSession(const std::string& token_hash) override {
    return db_.Write([&](const Db& db) -> Status {
      return Run(db, "DELETE FROM sessions WHERE token_hash = ?1",
                 [&](Stmt& s) { s.Bind(1, token_hash); });
    });
  }

  Status CreateApiToken(const std::string& token_hash, int64_t user_id, const std::string& name,
                        int64_t now_ms, int64_t expires_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      return Run(db,
                 "INSERT INTO api_tokens(token_hash, user_pk, name, created_at, expires_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)",
                 [&](Stmt& s) {
                   s.Bind(1, token_hash)
                       .Bind(2, user_id)
                       .Bind(3, name)
                       .Bind(4, now_ms)
                       .Bind(5, expires_ms);
                 });
    });
  }

  Result<std::optional<UserRecord>> FindApiToken(const std::string& token_hash,
                                                 int64_t now_ms) override {
    std::optional<UserRecord> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db, std::string("SELECT ") + kUserColumns +
                  " FROM api_tokens t JOIN users u ON u.id = t.user_pk WHERE t.token_hash = ?1 "
                  "AND t.revoked_at = 0 AND (t.expires_at = 0 OR t.expires_at > ?2) AND "
                  "u.disabled = 0");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, token_hash).Bind(2, now_ms);
      auto row = stmt->Step();
      if (!row.ok())
        return row.error();
      if (*row)
        out = ReadUser(*stmt);
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status Audit(const AuditEntry& e) override {
    return db_.Write([&](const Db& db) -> Status {
      return Run(db,
                 "INSERT INTO audit_log(at, username, action, object, remote, detail) VALUES "
                 "(?1, ?2, ?3, ?4, ?5, ?6)",
                 [&](Stmt& s) {
                   s.Bind(1, e.at_ms)
                       .Bind(2, e.username)
                       .Bind(3, e.action)
                       .Bind(4, e.object)
                       .Bind(5, e.remote)
                       .Bind(6, e.detail);
                 });
    });
  }

  Result<std::vector<AuditEntry>> AuditAfter(int64_t after_id, int limit) override {
    std::vector<AuditEntry> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db,
                                "SELECT at, username, action, object, remote, detail, id FROM "
                                "audit_log WHERE id > ?1 ORDER BY id LIMIT ?2");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, after_id).Bind(2, limit);
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok())
          return row.error();
        if (!*row)
          return Ok();
        out.push_back({stmt->Int(0), stmt->Text(1), stmt->Text(2), stmt->Text(3), stmt->Text(4),
                       stmt->Text(5), stmt->Int(6)});
      }
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::vector<AuditEntry>> QueryAudit(const std::string& username, int64_t from_ms,
                                             int64_t to_ms, int limit) override {
    std::vector<AuditEntry> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db,
                                "SELECT at, username, action, object, remote, detail FROM "
                                "audit_log WHERE (?1 = '' OR username = ?1) AND at >= ?2 AND "
                                "at <= ?3 ORDER BY at DESC, id DESC LIMIT ?4");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, username).Bind(2, from_ms).Bind(3, to_ms).Bind(4, limit);
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok())
          return row.error();
        if (!*row)
          return Ok();
        out.push_back({stmt->Int(0), stmt->Text(1), stmt->Text(2), stmt->Text(3), stmt->Text(4),
                       stmt->Text(5)});
      }
    });
    if (!st.ok())
      return st.error();
    return out;
  }

 private:
  Result<std::vector<ApiTokenRecord>> ListApiTokens(const std::string& username) override {
    std::vector<ApiTokenRecord> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db,
          "SELECT t.id, t.name, t.created_at, t.expires_at, t.revoked_at FROM api_tokens t JOIN "
          "users u ON u.id = t.user_pk WHERE u.username = ?1 ORDER BY t.id DESC");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, username);
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok())
          return row.error();
        if (!*row)
          break;
        out.push_back({stmt->Int(0), stmt->Text(1), stmt->Int(2), stmt->Int(3), stmt->Int(4)});
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<int> RevokeApiTokens(const std::string& username, int64_t id, int64_t now_ms) override {
    int revoked = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      auto n = RevokeTokens(db, username, id, now_ms);
      if (!n.ok())
        return n.error();
      revoked = *n;
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return revoked;
  }

  // Disabling takes no clock; any non-zero time marks the token revoked.
  static int64_t NowForRevocation() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  static Result<int> RevokeTokens(const Db& db, const std::string& username, int64_t id,
                                  int64_t now_ms) {
    auto stmt = Stmt::Prepare(db,
                              "UPDATE api_tokens SET revoked_at = ?3 WHERE revoked_at = 0 AND "
                              "user_pk = (SELECT id FROM users WHERE username = ?1) AND "
                              "(?2 = 0 OR id = ?2)");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind(1, username).Bind(2, id).Bind(3, now_ms);
    DXHUB_TRY(stmt->Run());
    return sqlite3_changes(db.get());
  }

  static Status EndSessions(const Db& db, const std::string& username) {
    return Run(db,
               "DELETE FROM sessions WHERE user_pk = (SELECT id FROM users WHERE username = ?1)",
               [&](Stmt& s) { s.Bind(1, username); });
  }

  sqlite::Access& db_;
};

}  // namespace

std::unique_ptr<UserStore> MakeSqliteUserStore(sqlite::Access& db) {
  return std::make_unique<SqliteUserStore>(db);
}

}  // namespace dxhub::store
