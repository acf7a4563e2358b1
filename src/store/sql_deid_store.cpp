// DeidStore written once over sql::Database.

#include "store/sql_deid_store.h"

#include "core/strings.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

constexpr const char* kProjectColumns =
    "SELECT id, name, retain_dates, retain_patient_chars, clean_descriptors, created_by, "
    "created_at FROM deid_projects ";

DeidProject ProjectRow(const Stmt& r) {
  DeidProject p;
  p.id = r.Int("id");
  p.name = r.Text("name");
  p.retain_dates = r.Int("retain_dates") != 0;
  p.retain_patient_characteristics = r.Int("retain_patient_chars") != 0;
  p.clean_descriptors = r.Int("clean_descriptors") != 0;
  p.created_by = r.Text("created_by");
  p.created_ms = r.Int("created_at");
  return p;
}

DeidExport ExportRow(const Stmt& r) {
  DeidExport e;
  e.id = r.Int("id");
  e.project = r.Text("project");
  e.created_by = r.Text("created_by");
  e.created_ms = r.Int("created_at");
  e.study_uids = Split(r.Text("study_uids"), "\\");
  return e;
}

constexpr const char* kExportColumns =
    "SELECT e.id AS id, p.name AS project, e.created_by AS created_by, e.created_at AS "
    "created_at, e.study_uids AS study_uids FROM deid_exports e JOIN deid_projects p ON p.id = "
    "e.project_pk ";

class SqlDeidStore final : public DeidStore {
 public:
  explicit SqlDeidStore(sql::Database& db) : db_(db) {}

  Result<DeidProject> AddProject(const DeidProject& in, int64_t now_ms) override {
    if (in.name.empty() || in.name.size() > 64 ||
        in.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                  "._-") != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument,
                       "a project name has 1-64 letters, digits, '.', '_' or '-'");
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto taken = tx.Prepare("SELECT id FROM deid_projects WHERE name = :name");
      if (!taken.ok())
        return taken.error();
      taken->Bind("name", in.name);
      bool exists = false;
      DXHUB_TRY(taken->ForEach([&](const Stmt&) { exists = true; }));
      if (exists)
        return MakeError(ErrorCode::kAlreadyExists, "project '" + in.name + "' exists");
      auto insert = tx.Prepare(
          "INSERT INTO deid_projects(name, retain_dates, retain_patient_chars, "
          "clean_descriptors, created_by, created_at) VALUES (:name, :dates, :chars, :clean, "
          ":by, :now) RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("name", in.name)
          .Bind("dates", int64_t{in.retain_dates ? 1 : 0})
          .Bind("chars", int64_t{in.retain_patient_characteristics ? 1 : 0})
          .Bind("clean", int64_t{in.clean_descriptors ? 1 : 0})
          .Bind("by", in.created_by)
          .Bind("now", now_ms);
      int64_t id = 0;
      DXHUB_TRY(insert->ForEach([&](const Stmt& r) { id = r.Int("id"); }));
      auto member = tx.Prepare(
          "INSERT INTO deid_project_members(project_pk, username) VALUES (:pk, :user) ON "
          "CONFLICT DO NOTHING");
      if (!member.ok())
        return member.error();
      for (const auto& m : in.members) {
        member->Reset();
        member->Bind("pk", id).Bind("user", m);
        DXHUB_TRY(member->Run());
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    auto made = Project(in.name);
    if (!made.ok())
      return made.error();
    return std::move(made->value());
  }

  Result<std::vector<DeidProject>> Projects(const std::string& member) override {
    std::vector<DeidProject> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(
          std::string(kProjectColumns) +
              (member.empty() ? ""
                              : "WHERE id IN (SELECT project_pk FROM deid_project_members "
                                "WHERE username = :member) ") +
              "ORDER BY name",
          false);
      if (!stmt.ok())
        return stmt.error();
      if (!member.empty())
        stmt->Bind("member", member);
      DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { out.push_back(ProjectRow(r)); }));
      return Members(tx, out);
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::optional<DeidProject>> Project(const std::string& name) override {
    std::vector<DeidProject> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(std::string(kProjectColumns) + "WHERE name = :name");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("name", name);
      DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { out.push_back(ProjectRow(r)); }));
      return Members(tx, out);
    });
    if (!st.ok())
      return st.error();
    if (out.empty())
      return std::optional<DeidProject>();
    return std::optional<DeidProject>(std::move(out.front()));
  }

  Result<DeidExport> AddExport(const std::string& project, const std::string& created_by,
                               const std::vector<std::string>& study_uids,
                               int64_t now_ms) override {
    std::string joined;
    for (const auto& uid : study_uids)
      joined += (joined.empty() ? "" : "\\") + uid;
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto insert = tx.Prepare(
          "INSERT INTO deid_exports(project_pk, created_by, created_at, study_uids) SELECT id, "
          ":by, :now, :uids FROM deid_projects WHERE name = :name RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("by", created_by).Bind("now", now_ms).Bind("uids", joined).Bind("name", project);
      id = 0;
      DXHUB_TRY(insert->ForEach([&](const Stmt& r) { id = r.Int("id"); }));
      if (id == 0)
        return MakeError(ErrorCode::kNotFound, "no project named '" + project + "'");
      return Ok();
    });
    if (!st.ok())
      return st.error();
    auto made = Export(id);
    if (!made.ok())
      return made.error();
    return std::move(made->value());
  }

  Result<std::vector<DeidExport>> Exports(const std::string& project) override {
    std::vector<DeidExport> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(std::string(kExportColumns) + "WHERE p.name = :name ORDER BY e.id");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("name", project);
      return stmt->ForEach([&](const Stmt& r) { out.push_back(ExportRow(r)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::optional<DeidExport>> Export(int64_t id) override {
    std::optional<DeidExport> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(std::string(kExportColumns) + "WHERE e.id = :id");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("id", id);
      return stmt->ForEach([&](const Stmt& r) { out = ExportRow(r); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::string> Secret(const std::string& name, const std::string& fresh) override {
    std::string value;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      // The first node to ask stores its fresh value; everyone reads the stored one.
      auto put = tx.Prepare(
          "INSERT INTO secrets(name, value) VALUES (:name, :value) ON CONFLICT(name) DO NOTHING");
      if (!put.ok())
        return put.error();
      put->Bind("name", name).Bind("value", fresh);
      DXHUB_TRY(put->Run());
      auto get = tx.Prepare("SELECT value FROM secrets WHERE name = :name");
      if (!get.ok())
        return get.error();
      get->Bind("name", name);
      return get->ForEach([&](const Stmt& r) { value = r.Text("value"); });
    });
    if (!st.ok())
      return st.error();
    return value;
  }

 private:
  static Status Members(Transaction& tx, std::vector<DeidProject>& projects) {
    auto stmt = tx.Prepare(
        "SELECT username FROM deid_project_members WHERE project_pk = :pk ORDER BY username");
    if (!stmt.ok())
      return stmt.error();
    for (auto& p : projects) {
      stmt->Reset();
      stmt->Bind("pk", p.id);
      DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { p.members.push_back(r.Text("username")); }));
    }
    return Ok();
  }

  sql::Database& db_;
};

}  // namespace

std::unique_ptr<DeidStore> MakeSqlDeidStore(sql::Database& db) {
  return std::make_unique<SqlDeidStore>(db);
}

}  // namespace dxhub::store
