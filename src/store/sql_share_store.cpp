// ShareStore written once over sql::Database.

#include "store/sql_share_store.h"

#include "store/sql_scope.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

constexpr const char* kColumns =
    "SELECT h.id AS id, s.study_uid AS study_uid, h.kind AS kind, COALESCE((SELECT n.name FROM "
    "institutions n WHERE n.id = h.institution_pk), '') AS institution, h.code_hash AS "
    "code_hash, h.recipient AS recipient, h.created_by AS created_by, h.created_at AS "
    "created_at, COALESCE(h.expires_at, 0) AS expires_at, COALESCE(h.revoked_at, 0) AS "
    "revoked_at, h.revoked_by AS revoked_by, h.opened AS opened, COALESCE(h.last_opened_at, 0) "
    "AS last_opened_at FROM shares h JOIN studies s ON s.id = h.study_pk ";

Share Row(const Stmt& r) {
  Share s;
  s.id = r.Int("id");
  s.study_uid = r.Text("study_uid");
  s.kind = r.Text("kind");
  s.institution = r.Text("institution");
  s.has_code = !r.Text("code_hash").empty();
  s.recipient = r.Text("recipient");
  s.created_by = r.Text("created_by");
  s.created_ms = r.Int("created_at");
  s.expires_ms = r.Int("expires_at");
  s.revoked_ms = r.Int("revoked_at");
  s.revoked_by = r.Text("revoked_by");
  s.opened = r.Int("opened");
  s.last_opened_ms = r.Int("last_opened_at");
  return s;
}

// The study's row id, if it is in scope; 0 otherwise.
Result<int64_t> StudyPk(Transaction& tx, const Scope& scope, const std::string& uid) {
  auto stmt = tx.Prepare(
      "SELECT s.id AS id FROM studies s WHERE s.study_uid = :uid" + ScopeSqlCondition(scope, "s"),
      scope.everything());
  if (!stmt.ok())
    return stmt.error();
  stmt->Bind("uid", uid);
  int64_t pk = 0;
  DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { pk = r.Int("id"); }));
  return pk;
}

class SqlShareStore final : public ShareStore {
 public:
  explicit SqlShareStore(sql::Database& db) : db_(db) {}

  Result<Share> AddLink(const Scope& scope, const LinkShareInput& in) override {
    if (in.recipient.size() > 128)
      return MakeError(ErrorCode::kInvalidArgument, "a recipient has at most 128 characters");
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto pk = StudyPk(tx, scope, in.study_uid);
      if (!pk.ok())
        return pk.error();
      if (*pk == 0)
        return MakeError(ErrorCode::kNotFound, "no such study");
      auto insert = tx.Prepare(
          "INSERT INTO shares(study_pk, kind, token_hash, code_hash, recipient, created_by, "
          "created_at, expires_at) VALUES (:pk, 'link', :token, :code, :recipient, :by, :now, "
          ":expires) RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("pk", *pk)
          .Bind("token", in.token_hash)
          .Bind("code", in.code_hash)
          .Bind("recipient", in.recipient)
          .Bind("by", in.created_by)
          .Bind("now", in.now_ms)
          .Bind("expires", in.expires_ms);
      return insert->ForEach([&](const Stmt& r) { id = r.Int("id"); });
    });
    if (!st.ok())
      return st.error();
    return One(id);
  }

  Result<Share> AddInstitution(const Scope& scope, const std::string& study_uid,
                               const std::string& institution, const std::string& created_by,
                               int64_t now_ms) override {
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto pk = StudyPk(tx, scope, study_uid);
      if (!pk.ok())
        return pk.error();
      if (*pk == 0)
        return MakeError(ErrorCode::kNotFound, "no such study");
      auto who = tx.Prepare("SELECT id FROM institutions WHERE name = :name");
      if (!who.ok())
        return who.error();
      who->Bind("name", institution);
      int64_t grantee = 0;
      DXHUB_TRY(who->ForEach([&](const Stmt& r) { grantee = r.Int("id"); }));
      if (grantee == 0)
        return MakeError(ErrorCode::kNotFound, "no institution named '" + institution + "'");
      auto open = tx.Prepare(
          "SELECT id FROM shares WHERE study_pk = :pk AND kind = 'institution' AND "
          "institution_pk = :grantee AND revoked_at IS NULL");
      if (!open.ok())
        return open.error();
      open->Bind("pk", *pk).Bind("grantee", grantee);
      bool exists = false;
      DXHUB_TRY(open->ForEach([&](const Stmt&) { exists = true; }));
      if (exists)
        return MakeError(ErrorCode::kAlreadyExists, "already shared with " + institution);
      auto insert = tx.Prepare(
          "INSERT INTO shares(study_pk, kind, institution_pk, created_by, created_at) VALUES "
          "(:pk, 'institution', :grantee, :by, :now) RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("pk", *pk).Bind("grantee", grantee).Bind("by", created_by).Bind("now", now_ms);
      return insert->ForEach([&](const Stmt& r) { id = r.Int("id"); });
    });
    if (!st.ok())
      return st.error();
    return One(id);
  }

  Result<std::vector<Share>> List(const Scope& scope, const std::string& study_uid) override {
    std::vector<Share> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(std::string(kColumns) + "WHERE s.study_uid = :uid" +
                                 ScopeSqlCondition(scope, "s") + " ORDER BY h.id DESC",
                             false);
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("uid", study_uid);
      return stmt->ForEach([&](const Stmt& r) { out.push_back(Row(r)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<Share> Revoke(const Scope& scope, int64_t id, const std::string& by,
                       int64_t now_ms) override {
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(
          std::string(kColumns) + "WHERE h.id = :id" + ScopeSqlCondition(scope, "s"), false);
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("id", id);
      std::optional<Share> found;
      DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { found = Row(r); }));
      if (!found)
        return MakeError(ErrorCode::kNotFound, "no such share");
      if (found->revoked_ms != 0)
        return MakeError(ErrorCode::kConflict, "the share is revoked already");
      auto revoke = tx.Prepare(
          "UPDATE shares SET revoked_at = :now, revoked_by = :by WHERE id = :id AND revoked_at "
          "IS NULL");
      if (!revoke.ok())
        return revoke.error();
      revoke->Bind("now", now_ms).Bind("by", by).Bind("id", id);
      DXHUB_TRY(revoke->Run());
      auto grants = tx.Prepare("DELETE FROM share_grants WHERE share_pk = :id");
      if (!grants.ok())
        return grants.error();
      grants->Bind("id", id);
      return grants->Run();
    });
    if (!st.ok())
      return st.error();
    return One(id);
  }

  Result<std::optional<LinkShare>> FindLink(const std::string& token_hash) override {
    std::optional<LinkShare> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.reset();
      auto stmt = tx.Prepare(std::string(kColumns) +
                             "WHERE h.token_hash = :token AND h.kind = "
                             "'link'");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("token", token_hash);
      return stmt->ForEach([&](const Stmt& r) { out = LinkShare{Row(r), r.Text("code_hash")}; });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status Open(int64_t share_id, const std::string& grant_hash, int64_t grant_expires_ms,
              int64_t now_ms) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto count =
          tx.Prepare("UPDATE shares SET opened = opened + 1, last_opened_at = :now WHERE id = :id");
      if (!count.ok())
        return count.error();
      count->Bind("now", now_ms).Bind("id", share_id);
      DXHUB_TRY(count->Run());
      // Grants of this link that ran out go as new ones come.
      auto old = tx.Prepare("DELETE FROM share_grants WHERE share_pk = :id AND expires_at < :now");
      if (!old.ok())
        return old.error();
      old->Bind("id", share_id).Bind("now", now_ms);
      DXHUB_TRY(old->Run());
      auto grant = tx.Prepare(
          "INSERT INTO share_grants(token_hash, share_pk, expires_at) VALUES (:grant, :id, "
          ":expires)");
      if (!grant.ok())
        return grant.error();
      grant->Bind("grant", grant_hash).Bind("id", share_id).Bind("expires", grant_expires_ms);
      return grant->Run();
    });
  }

  Result<bool> Granted(int64_t share_id, const std::string& grant_hash, int64_t now_ms) override {
    bool granted = false;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      granted = false;
      auto stmt = tx.Prepare(
          "SELECT 1 AS one FROM share_grants g JOIN shares h ON h.id = g.share_pk WHERE "
          "g.token_hash = :grant AND g.share_pk = :id AND g.expires_at > :now AND h.revoked_at "
          "IS NULL AND (h.expires_at IS NULL OR h.expires_at > :now)");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("grant", grant_hash).Bind("id", share_id).Bind("now", now_ms);
      return stmt->ForEach([&](const Stmt&) { granted = true; });
    });
    if (!st.ok())
      return st.error();
    return granted;
  }

 private:
  Result<Share> One(int64_t id) {
    std::optional<Share> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(std::string(kColumns) + "WHERE h.id = :id");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("id", id);
      return stmt->ForEach([&](const Stmt& r) { out = Row(r); });
    });
    if (!st.ok())
      return st.error();
    if (!out)
      return MakeError(ErrorCode::kNotFound, "no such share");
    return *out;
  }

  sql::Database& db_;
};

}  // namespace

std::unique_ptr<ShareStore> MakeSqlShareStore(sql::Database& db) {
  return std::make_unique<SqlShareStore>(db);
}

}  // namespace dxhub::store
