// InstitutionStore written once over sql::Database.

#include "store/sql_institution_store.h"

#include <map>

#include "core/strings.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

// The institution's id by name, inside a transaction; kNotFound if there is none.
Result<int64_t> IdOf(Transaction& tx, const std::string& name) {
  auto stmt = tx.Prepare("SELECT id FROM institutions WHERE name = :name");
  if (!stmt.ok())
    return stmt.error();
  stmt->Bind("name", name);
  int64_t id = 0;
  DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { id = r.Int("id"); }));
  if (id == 0)
    return MakeError(ErrorCode::kNotFound, "no institution named '" + name + "'");
  return id;
}

class SqlInstitutionStore final : public InstitutionStore {
 public:
  explicit SqlInstitutionStore(sql::Database& db) : db_(db) {}

  Result<int64_t> Add(const Institution& in, int64_t now_ms) override {
    if (in.name.empty() || in.name.size() > 64)
      return MakeError(ErrorCode::kInvalidArgument,
                       "an institution needs a name of 1-64 characters");
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      id = 0;
      auto taken = tx.Prepare(
          "SELECT 1 AS one FROM institutions WHERE name = :name UNION ALL "
          "SELECT 1 AS one FROM institution_names WHERE name = :lower");
      if (!taken.ok())
        return taken.error();
      taken->Bind("name", in.name).Bind("lower", AsciiLower(in.name));
      bool exists = false;
      DXHUB_TRY(taken->ForEach([&](const Stmt&) { exists = true; }));
      if (exists)
        return MakeError(ErrorCode::kAlreadyExists, "institution '" + in.name + "' exists");
      auto insert = tx.Prepare(
          "INSERT INTO institutions(name, issuer, created_at) VALUES (:name, :issuer, :now) "
          "RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("name", in.name).Bind("issuer", in.issuer).Bind("now", now_ms);
      DXHUB_TRY(insert->ForEach([&](const Stmt& r) { id = r.Int("id"); }));
      std::vector<std::string> names{AsciiLower(in.name)};
      for (const auto& alias : in.aliases)
        names.push_back(AsciiLower(alias));
      auto name = tx.Prepare(
          "INSERT INTO institution_names(name, institution_pk) VALUES (:name, :pk) "
          "ON CONFLICT(name) DO NOTHING");
      if (!name.ok())
        return name.error();
      for (const auto& n : names) {
        if (n.empty())
          continue;
        name->Reset();
        name->Bind("name", n).Bind("pk", id);
        DXHUB_TRY(name->Run());
        if (name->Changes() == 0)
          return MakeError(ErrorCode::kAlreadyExists,
                           "the name '" + n + "' means another institution");
      }
      for (const auto& sender : in.senders)
        DXHUB_TRY(PutSender(tx, id, sender));
      for (const auto& served : in.reads_for)
        DXHUB_TRY(PutReadsFor(tx, id, served));
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return id;
  }

  Result<std::vector<Institution>> List() override {
    std::vector<Institution> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      std::map<int64_t, size_t> at;
      auto rows = tx.Prepare("SELECT id, name, issuer, created_at FROM institutions ORDER BY name");
      if (!rows.ok())
        return rows.error();
      DXHUB_TRY(rows->ForEach([&](const Stmt& r) {
        Institution i;
        i.id = r.Int("id");
        i.name = r.Text("name");
        i.issuer = r.Text("issuer");
        i.created_ms = r.Int("created_at");
        at[i.id] = out.size();
        out.push_back(std::move(i));
      }));
      auto names = tx.Prepare(
          "SELECT n.institution_pk AS pk, n.name AS name FROM institution_names n "
          "JOIN institutions i ON i.id = n.institution_pk ORDER BY n.name");
      if (!names.ok())
        return names.error();
      DXHUB_TRY(names->ForEach([&](const Stmt& r) {
        Institution& i = out[at[r.Int("pk")]];
        if (r.Text("name") != AsciiLower(i.name))
          i.aliases.push_back(r.Text("name"));
      }));
      auto senders = tx.Prepare(
          "SELECT institution_pk AS pk, aet, host FROM institution_senders ORDER BY aet, host");
      if (!senders.ok())
        return senders.error();
      DXHUB_TRY(senders->ForEach([&](const Stmt& r) {
        out[at[r.Int("pk")]].senders.push_back({r.Text("aet"), r.Text("host")});
      }));
      auto reads = tx.Prepare(
          "SELECT r.reader_pk AS pk, i.name AS served FROM institution_reads_for r "
          "JOIN institutions i ON i.id = r.served_pk ORDER BY i.name");
      if (!reads.ok())
        return reads.error();
      return reads->ForEach(
          [&](const Stmt& r) { out[at[r.Int("pk")]].reads_for.push_back(r.Text("served")); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::optional<Institution>> Find(const std::string& name) override {
    auto all = List();
    if (!all.ok())
      return all.error();
    for (auto& i : *all) {
      if (i.name == name)
        return std::optional<Institution>(std::move(i));
    }
    return std::optional<Institution>();
  }

  Status AddSender(const std::string& name, const Sender& sender) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto id = IdOf(tx, name);
      if (!id.ok())
        return id.error();
      return PutSender(tx, *id, sender);
    });
  }

  Status AddReadsFor(const std::string& reader, const std::string& served) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto id = IdOf(tx, reader);
      if (!id.ok())
        return id.error();
      return PutReadsFor(tx, *id, served);
    });
  }

  Result<int64_t> SenderInstitution(const std::string& calling_aet,
                                    const std::string& peer_ip) override {
    int64_t id = 0;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      id = 0;
      // An entry for the peer's address wins over one for any address ('' sorts first).
      auto stmt = tx.Prepare(
          "SELECT institution_pk AS pk FROM institution_senders WHERE aet = :aet AND "
          "(host = '' OR host = :ip) ORDER BY host DESC LIMIT 1");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("aet", calling_aet).Bind("ip", peer_ip);
      return stmt->ForEach([&](const Stmt& r) { id = r.Int("pk"); });
    });
    if (!st.ok())
      return st.error();
    return id;
  }

  Result<Scope> ScopeOf(int64_t institution) override {
    if (institution == 0)
      return Scope::Everything();
    std::vector<int64_t> ids{institution};
    std::vector<int64_t> shared;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      ids.resize(1);
      shared.clear();
      auto stmt =
          tx.Prepare("SELECT served_pk AS pk FROM institution_reads_for WHERE reader_pk = :pk");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("pk", institution);
      DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { ids.push_back(r.Int("pk")); }));
      // Single studies another institution shared with this one, until revoked.
      auto shares = tx.Prepare(
          "SELECT study_pk FROM shares WHERE kind = 'institution' AND institution_pk = :pk AND "
          "revoked_at IS NULL");
      if (!shares.ok())
        return shares.error();
      shares->Bind("pk", institution);
      return shares->ForEach([&](const Stmt& r) { shared.push_back(r.Int("study_pk")); });
    });
    if (!st.ok())
      return st.error();
    return Scope::Of(std::move(ids), std::move(shared));
  }

 private:
  static Status PutSender(Transaction& tx, int64_t id, const Sender& sender) {
    if (sender.aet.empty() || sender.aet.size() > 16)
      return MakeError(ErrorCode::kInvalidArgument, "an AE title has 1-16 characters");
    auto put = tx.Prepare(
        "INSERT INTO institution_senders(aet, host, institution_pk) VALUES (:aet, :host, :pk) "
        "ON CONFLICT(aet, host) DO UPDATE SET institution_pk = excluded.institution_pk");
    if (!put.ok())
      return put.error();
    put->Bind("aet", sender.aet).Bind("host", sender.host).Bind("pk", id);
    return put->Run();
  }

  static Status PutReadsFor(Transaction& tx, int64_t reader, const std::string& served) {
    auto served_id = IdOf(tx, served);
    if (!served_id.ok())
      return served_id.error();
    if (*served_id == reader)
      return Ok();  // an institution always sees its own
    auto put = tx.Prepare(
        "INSERT INTO institution_reads_for(reader_pk, served_pk) VALUES (:reader, :served) "
        "ON CONFLICT(reader_pk, served_pk) DO NOTHING");
    if (!put.ok())
      return put.error();
    put->Bind("reader", reader).Bind("served", *served_id);
    return put->Run();
  }

  sql::Database& db_;
};

}  // namespace

std::unique_ptr<InstitutionStore> MakeSqlInstitutionStore(sql::Database& db) {
  return std::make_unique<SqlInstitutionStore>(db);
}

}  // namespace dxhub::store
