#include "store/sql_user_store.h"

#include <chrono>

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

// Every column aliased, so rows are read by name (ReadUser) whatever else the statement selects.
constexpr const char* kUserColumns =
    "u.id AS id, u.username AS username, u.display_name AS display_name, u.role AS role, "
    "u.research_only AS research_only, "
    "u.password_hash AS password_hash, u.disabled AS disabled, u.failed_logins AS failed_logins, "
    "u.locked_until AS locked_until, u.created_at AS created_at, "
    "COALESCE(u.institution_pk, 0) AS institution_pk, "
    "(SELECT n.name FROM institutions n WHERE n.id = u.institution_pk) AS institution";

// The role column's value for `role` (see ReadUser).
std::string StoredRole(const std::string& role) {
  return role == "researcher" ? "viewer" : role;
}

UserRecord ReadUser(const Stmt& s) {
  UserRecord u;
  u.id = s.Int("id");
  u.username = s.Text("username");
  u.display_name = s.Text("display_name");
  // A researcher is stored as a viewer marked research-only (schema 15): the role column's
  // CHECK predates the role, and changing a CHECK in SQLite means rebuilding the table.
  u.role = s.Int("research_only") != 0 ? "researcher" : s.Text("role");
  u.password_hash = s.Text("password_hash");
  u.disabled = s.Int("disabled") != 0;
  u.failed_logins = static_cast<int>(s.Int("failed_logins"));
  u.locked_until_ms = s.Int("locked_until");
  u.created_ms = s.Int("created_at");
  u.institution = s.Int("institution_pk");
  u.institution_name = s.IsNull("institution") ? std::string() : s.Text("institution");
  return u;
}

AuditEntry ReadAudit(const Stmt& s) {
  AuditEntry e;
  e.at_ms = s.Int("at");
  e.username = s.Text("username");
  e.action = s.Text("action");
  e.object = s.Text("object");
  e.remote = s.Text("remote");
  e.detail = s.Text("detail");
  return e;
}

// Prepares `sql`, lets `bind` bind it, and runs it to completion; kNotFound when `must_change`
// and no row changed.
template <typename Bind>
Status Run(Transaction& tx, const std::string& sql, Bind&& bind, bool must_change = false) {
  auto stmt = tx.Prepare(sql);
  if (!stmt.ok())
    return stmt.error();
  bind(*stmt);
  DXHUB_TRY(stmt->Run());
  if (must_change && stmt->Changes() == 0)
    return MakeError(ErrorCode::kNotFound, "no such user");
  return Ok();
}

class SqlUserStore final : public UserStore {
 public:
  explicit SqlUserStore(sql::Database& db) : db_(&db) {}

  Result<int64_t> CountUsers() override {
    int64_t n = 0;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      n = 0;
      auto stmt = tx.Prepare("SELECT COUNT(*) AS n FROM users");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& r) { n = r.Int("n"); });
    });
    if (!st.ok())
      return st.error();
    return n;
  }

  Status CreateUser(const UserRecord& u, int64_t now_ms) override {
    return db_->Write([&](Transaction& tx) -> Status {
      auto exists = tx.Prepare("SELECT 1 AS one FROM users WHERE username = :username");
      if (!exists.ok())
        return exists.error();
      exists->Bind("username", u.username);
      bool taken = false;
      DXHUB_TRY(exists->ForEach([&](const Stmt&) { taken = true; }));
      if (taken)
        return MakeError(ErrorCode::kAlreadyExists, "user '" + u.username + "' exists");
      // A concurrent create (another PostgreSQL node, after the check above) inserts nothing
      // here rather than failing the transaction with a constraint error the engines report
      // differently.
      auto insert = tx.Prepare(
          "INSERT INTO users(username, display_name, role, research_only, password_hash, "
          "disabled, created_at, password_changed_at, institution_pk) VALUES (:username, "
          ":display_name, :role, :research_only, :password_hash, :disabled, :now, :now, "
          ":institution) ON CONFLICT(username) DO NOTHING");
      if (!insert.ok())
        return insert.error();
      insert->Bind("username", u.username)
          .Bind("display_name", u.display_name)
          .Bind("role", StoredRole(u.role))
          .Bind("research_only", u.role == "researcher" ? 1 : 0)
          .Bind("password_hash", u.password_hash)
          .Bind("disabled", u.disabled ? 1 : 0)
          .Bind("now", now_ms);
      if (u.institution == 0)
        insert->BindNull("institution");
      else
        insert->Bind("institution", u.institution);
      DXHUB_TRY(insert->Run());
      if (insert->Changes() == 0)
        return MakeError(ErrorCode::kAlreadyExists, "user '" + u.username + "' exists");
      return Ok();
    });
  }

  Result<std::optional<UserRecord>> FindUser(const std::string& username) override {
    std::optional<UserRecord> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.reset();
      auto stmt = tx.Prepare(std::string("SELECT ") + kUserColumns +
                             " FROM users u WHERE u.username = :username");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("username", username);
      return stmt->ForEach([&](const Stmt& r) { out = ReadUser(r); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::vector<UserRecord>> ListUsers() override {
    std::vector<UserRecord> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(std::string("SELECT ") + kUserColumns + " FROM users u ORDER BY u.id");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& r) { out.push_back(ReadUser(r)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status SetPassword(const std::string& username, const std::string& hash,
                     int64_t now_ms) override {
    return db_->Write([&](Transaction& tx) -> Status {
      DXHUB_TRY(Run(
          tx,
          "UPDATE users SET password_hash = :hash, password_changed_at = :now, failed_logins = 0, "
          "locked_until = 0 WHERE username = :username",
          [&](Stmt& s) { s.Bind("username", username).Bind("hash", hash).Bind("now", now_ms); },
          true));
      DXHUB_TRY(RevokeTokens(tx, username, 0, now_ms));
      return EndSessions(tx, username);
    });
  }

  Status SetDisabled(const std::string& username, bool disabled) override {
    return db_->Write([&](Transaction& tx) -> Status {
      DXHUB_TRY(Run(
          tx, "UPDATE users SET disabled = :disabled WHERE username = :username",
          [&](Stmt& s) { s.Bind("username", username).Bind("disabled", disabled ? 1 : 0); }, true));
      if (!disabled)
        return Ok();
      DXHUB_TRY(RevokeTokens(tx, username, 0, NowForRevocation()));
      return EndSessions(tx, username);
    });
  }

  Status SetRole(const std::string& username, const std::string& role) override {
    return db_->Write([&](Transaction& tx) -> Status {
      return Run(
          tx,
          "UPDATE users SET role = :role, research_only = :research_only WHERE username = "
          ":username",
          [&](Stmt& s) {
            s.Bind("username", username)
                .Bind("role", StoredRole(role))
                .Bind("research_only", role == "researcher" ? 1 : 0);
          },
          true);
    });
  }

  Status SetInstitution(const std::string& username, int64_t institution) override {
    return db_->Write([&](Transaction& tx) -> Status {
      return Run(
          tx, "UPDATE users SET institution_pk = :institution WHERE username = :username",
          [&](Stmt& s) {
            s.Bind("username", username);
            if (institution == 0)
              s.BindNull("institution");
            else
              s.Bind("institution", institution);
          },
          true);
    });
  }

  Status RecordLogin(const std::string& username, bool success, int lock_after,
                     int64_t lock_until_ms) override {
    return db_->Write([&](Transaction& tx) -> Status {
      if (success) {
        return Run(
            tx, "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE username = :username",
            [&](Stmt& s) { s.Bind("username", username); });
      }
      return Run(tx,
                 "UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN "
                 "failed_logins + 1 >= CAST(:lock_after AS BIGINT) THEN CAST(:lock_until AS "
                 "BIGINT) ELSE locked_until END WHERE username = :username",
                 [&](Stmt& s) {
                   s.Bind("username", username)
                       .Bind("lock_after", lock_after)
                       .Bind("lock_until", lock_until_ms);
                 });
    });
  }

  Status CreateSession(const std::string& token_hash, int64_t user_id, const std::string& csrf,
                       int64_t now_ms, int64_t expires_ms, const std::string& remote) override {
    return db_->Write([&](Transaction& tx) -> Status {
      // Expired sessions are swept here rather than by a timer.
      DXHUB_TRY(Run(tx, "DELETE FROM sessions WHERE expires_at <= :now",
                    [&](Stmt& s) { s.Bind("now", now_ms); }));
      return Run(tx,
                 "INSERT INTO sessions(token_hash, user_pk, csrf_token, created_at, expires_at, "
                 "remote) VALUES (:token_hash, :user_pk, :csrf_token, :now, :expires_at, :remote)",
                 [&](Stmt& s) {
                   s.Bind("token_hash", token_hash)
                       .Bind("user_pk", user_id)
                       .Bind("csrf_token", csrf)
                       .Bind("now", now_ms)
                       .Bind("expires_at", expires_ms)
                       .Bind("remote", remote);
                 });
    });
  }

  Result<std::optional<SessionRecord>> FindSession(const std::string& token_hash,
                                                   int64_t now_ms) override {
    std::optional<SessionRecord> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.reset();
      auto stmt = tx.Prepare(std::string("SELECT ") + kUserColumns +
                             ", s.csrf_token AS csrf_token, s.expires_at AS expires_at FROM "
                             "sessions s JOIN users u ON u.id = s.user_pk WHERE s.token_hash = "
                             ":token_hash AND s.expires_at > :now AND u.disabled = 0");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("token_hash", token_hash).Bind("now", now_ms);
      return stmt->ForEach([&](const Stmt& r) {
        out = SessionRecord{ReadUser(r), r.Text("csrf_token"), r.Int("expires_at")};
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status DeleteSession(const std::string& token_hash) override {
    return db_->Write([&](Transaction& tx) -> Status {
      return Run(tx, "DELETE FROM sessions WHERE token_hash = :token_hash",
                 [&](Stmt& s) { s.Bind("token_hash", token_hash); });
    });
  }

  Status CreateApiToken(const std::string& token_hash, int64_t user_id, const std::string& name,
                        int64_t now_ms, int64_t expires_ms) override {
    return db_->Write([&](Transaction& tx) -> Status {
      return Run(tx,
                 "INSERT INTO api_tokens(token_hash, user_pk, name, created_at, expires_at) "
                 "VALUES (:token_hash, :user_pk, :name, :now, :expires_at)",
                 [&](Stmt& s) {
                   s.Bind("token_hash", token_hash)
                       .Bind("user_pk", user_id)
                       .Bind("name", name)
                       .Bind("now", now_ms)
                       .Bind("expires_at", expires_ms);
                 });
    });
  }

  Result<std::optional<UserRecord>> FindApiToken(const std::string& token_hash,
                                                 int64_t now_ms) override {
    std::optional<UserRecord> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.reset();
      auto stmt = tx.Prepare(
          std::string("SELECT ") + kUserColumns +
          " FROM api_tokens t JOIN users u ON u.id = t.user_pk WHERE t.token_hash = :token_hash "
          "AND t.revoked_at = 0 AND (t.expires_at = 0 OR t.expires_at > :now) AND "
          "u.disabled = 0");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("token_hash", token_hash).Bind("now", now_ms);
      return stmt->ForEach([&](const Stmt& r) { out = ReadUser(r); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status Audit(const AuditEntry& e) override {
    return db_->Write([&](Transaction& tx) -> Status {
      return Run(tx,
                 "INSERT INTO audit_log(at, username, action, object, remote, detail) VALUES "
                 "(:at, :username, :action, :object, :remote, :detail)",
                 [&](Stmt& s) {
                   s.Bind("at", e.at_ms)
                       .Bind("username", e.username)
                       .Bind("action", e.action)
                       .Bind("object", e.object)
                       .Bind("remote", e.remote)
                       .Bind("detail", e.detail);
                 });
    });
  }

  Result<std::vector<AuditEntry>> AuditAfter(int64_t after_id, int limit) override {
    std::vector<AuditEntry> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(
          "SELECT at AS at, username AS username, action AS action, object AS object, "
          "remote AS remote, detail AS detail, id AS id FROM audit_log WHERE id > :after "
          "ORDER BY id LIMIT :limit");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("after", after_id).Bind("limit", limit);
      return stmt->ForEach([&](const Stmt& r) {
        AuditEntry e = ReadAudit(r);
        e.id = r.Int("id");
        out.push_back(std::move(e));
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::vector<AuditEntry>> QueryAudit(const std::string& username, int64_t from_ms,
                                             int64_t to_ms, int limit) override {
    std::vector<AuditEntry> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(
          "SELECT at AS at, username AS username, action AS action, object AS object, "
          "remote AS remote, detail AS detail FROM audit_log WHERE "
          "(CAST(:username AS TEXT) = '' OR username = :username) AND at >= :from AND "
          "at <= :to ORDER BY at DESC, id DESC LIMIT :limit");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("username", username).Bind("from", from_ms).Bind("to", to_ms).Bind("limit", limit);
      return stmt->ForEach([&](const Stmt& r) { out.push_back(ReadAudit(r)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

 private:
  Result<std::vector<ApiTokenRecord>> ListApiTokens(const std::string& username) override {
    std::vector<ApiTokenRecord> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(
          "SELECT t.id AS id, t.name AS name, t.created_at AS created_at, t.expires_at AS "
          "expires_at, t.revoked_at AS revoked_at FROM api_tokens t JOIN users u ON u.id = "
          "t.user_pk WHERE u.username = :username ORDER BY t.id DESC");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("username", username);
      return stmt->ForEach([&](const Stmt& r) {
        out.push_back({r.Int("id"), r.Text("name"), r.Int("created_at"), r.Int("expires_at"),
                       r.Int("revoked_at")});
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<int> RevokeApiTokens(const std::string& username, int64_t id, int64_t now_ms) override {
    int revoked = 0;
    Status st = db_->Write([&](Transaction& tx) -> Status {
      revoked = 0;
      auto n = RevokeTokens(tx, username, id, now_ms);
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

  static Result<int> RevokeTokens(Transaction& tx, const std::string& username, int64_t id,
                                  int64_t now_ms) {
    auto stmt = tx.Prepare(
        "UPDATE api_tokens SET revoked_at = :now WHERE revoked_at = 0 AND "
        "user_pk = (SELECT id FROM users WHERE username = :username) AND "
        "(CAST(:id AS BIGINT) = 0 OR id = :id)");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind("username", username).Bind("id", id).Bind("now", now_ms);
    DXHUB_TRY(stmt->Run());
    return static_cast<int>(stmt->Changes());
  }

  static Status EndSessions(Transaction& tx, const std::string& username) {
    return Run(
        tx,
        "DELETE FROM sessions WHERE user_pk = (SELECT id FROM users WHERE username = :username)",
        [&](Stmt& s) { s.Bind("username", username); });
  }

  sql::Database* db_;
};

}  // namespace

std::unique_ptr<UserStore> MakeSqlUserStore(sql::Database& db) {
  return std::make_unique<SqlUserStore>(db);
}

}  // namespace dxhub::store
