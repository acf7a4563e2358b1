// ReadingStore written once over sql::Database.

#include "store/sql_reading_store.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/strings.h"
#include "store/sql_scope.h"

namespace dxhub::store {

const char* ToString(ReadPriority priority) {
  switch (priority) {
    case ReadPriority::kStat:
      return "stat";
    case ReadPriority::kUrgent:
      return "urgent";
    case ReadPriority::kRoutine:
      return "routine";
  }
  return "routine";
}

Result<ReadPriority> ParseReadPriority(const std::string& text) {
  if (text == "stat")
    return ReadPriority::kStat;
  if (text == "urgent")
    return ReadPriority::kUrgent;
  if (text == "routine")
    return ReadPriority::kRoutine;
  return MakeError(ErrorCode::kInvalidArgument,
                   "priority must be stat, urgent or routine, not '" + text + "'");
}

namespace {

using sql::Stmt;
using sql::Transaction;

// The columns of a request row with what the queue shows of its study; `q` read_requests,
// `s` studies, `p` patients, `r` study_review.
std::string RequestColumns(const sql::Dialect& d) {
  return "q.id AS id, s.study_uid AS study_uid, COALESCE(q.institution_pk, 0) AS institution, "
         "COALESCE((SELECT n.name FROM institutions n WHERE n.id = q.institution_pk), '') AS "
         "institution_name, q.priority AS priority, q.reason AS reason, q.requested_by AS "
         "requested_by, q.requested_at AS requested_at, q.due_at AS due_at, q.status AS status, "
         "q.claimed_by AS claimed_by, COALESCE(q.claimed_at, 0) AS claimed_at, "
         "COALESCE(q.closed_at, 0) AS closed_at, p.patient_name AS patient_name, p.patient_id AS "
         "patient_id, s.study_date AS study_date, s.study_description AS study_description, "
         "COALESCE((SELECT " +
         d.JoinDistinct("m.modality") +
         " FROM series m WHERE m.study_pk = s.id), '') AS modalities, COALESCE(r.high_risk, 0) "
         "AS high_risk ";
}

constexpr const char* kRequestFrom =
    "FROM read_requests q JOIN studies s ON s.id = q.study_pk JOIN patients p ON p.id = "
    "s.patient_pk LEFT JOIN study_review r ON r.study_pk = s.id ";

ReadRequest ReadRequestRow(const Stmt& s, int64_t now_ms) {
  ReadRequest q;
  q.id = s.Int("id");
  q.study_uid = s.Text("study_uid");
  q.institution = s.Int("institution");
  q.institution_name = s.Text("institution_name");
  q.priority = s.Text("priority");
  q.reason = s.Text("reason");
  q.requested_by = s.Text("requested_by");
  q.requested_ms = s.Int("requested_at");
  q.due_ms = s.Int("due_at");
  q.status = s.Text("status");
  q.claimed_by = s.Text("claimed_by");
  q.claimed_ms = s.Int("claimed_at");
  q.closed_ms = s.Int("closed_at");
  q.overdue = (q.status == "requested" || q.status == "claimed") && now_ms > q.due_ms;
  q.patient_name = s.Text("patient_name");
  q.patient_id = s.Text("patient_id");
  q.study_date = s.Text("study_date");
  q.description = s.Text("study_description");
  std::vector<std::string> modalities = Split(s.Text("modalities"), ",");
  std::sort(modalities.begin(), modalities.end());
  for (const auto& m : modalities)
    q.modalities += (q.modalities.empty() ? "" : "\\") + m;
  q.high_risk = s.Int("high_risk");
  return q;
}

constexpr const char* kReportColumns =
    "SELECT o.id AS id, s.study_uid AS study_uid, COALESCE(o.request_pk, 0) AS request, "
    "o.version AS version, o.status AS status, o.findings AS findings, o.impression AS "
    "impression, o.author AS author, o.created_at AS created_at, o.updated_at AS updated_at, "
    "COALESCE(o.signed_at, 0) AS signed_at, o.sr_uid AS sr_uid, o.pdf_uid AS pdf_uid FROM "
    "reports o JOIN studies s ON s.id = o.study_pk ";

Report ReportRow(const Stmt& s) {
  Report r;
  r.id = s.Int("id");
  r.study_uid = s.Text("study_uid");
  r.request = s.Int("request");
  r.version = static_cast<int>(s.Int("version"));
  r.status = s.Text("status");
  r.findings = s.Text("findings");
  r.impression = s.Text("impression");
  r.author = s.Text("author");
  r.created_ms = s.Int("created_at");
  r.updated_ms = s.Int("updated_at");
  r.signed_ms = s.Int("signed_at");
  r.sr_uid = s.Text("sr_uid");
  r.pdf_uid = s.Text("pdf_uid");
  return r;
}

struct StudyKey {
  int64_t pk = 0;
  int64_t institution = 0;
};

// The study's row id and institution, if it is in scope.
Result<std::optional<StudyKey>> StudyIn(Transaction& tx, const Scope& scope,
                                        const std::string& study_uid) {
  auto stmt = tx.Prepare(
      "SELECT s.id AS id, COALESCE(s.institution_pk, 0) AS institution FROM "
      "studies s WHERE s.study_uid = :uid" +
          ScopeSqlCondition(scope, "s"),
      scope.everything());
  if (!stmt.ok())
    return stmt.error();
  stmt->Bind("uid", study_uid);
  std::optional<StudyKey> key;
  DXHUB_TRY(stmt->ForEach([&](const Stmt& r) {
    key = StudyKey{r.Int("id"), r.Int("institution")};
  }));
  return key;
}

Result<std::optional<ReadRequest>> RequestWhere(Transaction& tx, const Scope& scope,
                                                const std::string& condition, int64_t id_or_pk,
                                                int64_t now_ms) {
  auto stmt = tx.Prepare("SELECT " + RequestColumns(tx.dialect()) + kRequestFrom + "WHERE " +
                             condition + ScopeSqlCondition(scope, "s") +
                             " ORDER BY CASE WHEN q.status IN ('requested', 'claimed') THEN 0 "
                             "ELSE 1 END, q.id DESC LIMIT 1",
                         scope.everything());
  if (!stmt.ok())
    return stmt.error();
  stmt->Bind("key", id_or_pk);
  std::optional<ReadRequest> out;
  DXHUB_TRY(stmt->ForEach([&](const Stmt& r) { out = ReadRequestRow(r, now_ms); }));
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty())
    return -1;
  std::sort(v.begin(), v.end());
  const auto k = static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(k, v.size() - 1)];
}

class SqlReadingStore final : public ReadingStore {
 public:
  explicit SqlReadingStore(sql::Database& db) : db_(db) {}

  Result<ReadRequest> Request(const Scope& scope, const ReadRequestInput& in) override {
    if (in.reason.size() > 1024)
      return MakeError(ErrorCode::kInvalidArgument, "a reason has at most 1024 characters");
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      id = 0;
      auto study = StudyIn(tx, scope, in.study_uid);
      if (!study.ok())
        return study.error();
      if (!study->has_value())
        return MakeError(ErrorCode::kNotFound, "no such study");
      auto open = tx.Prepare(
          "SELECT claimed_by FROM read_requests WHERE study_pk = :pk AND status IN "
          "('requested', 'claimed')");
      if (!open.ok())
        return open.error();
      open->Bind("pk", (*study)->pk);
      bool exists = false;
      DXHUB_TRY(open->ForEach([&](const Stmt&) { exists = true; }));
      if (exists)
        return MakeError(ErrorCode::kAlreadyExists, "the study already has an open read request");
      auto insert = tx.Prepare(
          "INSERT INTO read_requests(study_pk, institution_pk, priority, reason, requested_by, "
          "requested_at, due_at) VALUES (:pk, :inst, :priority, :reason, :by, :now, :due) "
          "RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("pk", (*study)->pk)
          .Bind("priority", ToString(in.priority))
          .Bind("reason", in.reason)
          .Bind("by", in.requested_by)
          .Bind("now", in.now_ms)
          .Bind("due", in.due_ms);
      if ((*study)->institution == 0)
        insert->BindNull("inst");
      else
        insert->Bind("inst", (*study)->institution);
      return insert->ForEach([&](const Stmt& r) { id = r.Int("id"); });
    });
    if (!st.ok())
      return st.error();
    return Fetch(scope, id, in.now_ms);
  }

  Result<ReadQueuePage> Queue(const Scope& scope, const ReadQueueQuery& query) override {
    std::string where = "WHERE 1=1";
    if (query.status == "open")
      where += " AND q.status IN ('requested', 'claimed')";
    else if (query.status != "all" && !query.status.empty())
      where += " AND q.status = :status";
    if (!query.claimed_by.empty())
      where += " AND q.claimed_by = :claimed_by";
    where += ScopeSqlCondition(scope, "s");
    ReadQueuePage page;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      page = {};
      auto bind = [&](Stmt& stmt) {
        if (query.status != "open" && query.status != "all" && !query.status.empty())
          stmt.Bind("status", query.status);
        if (!query.claimed_by.empty())
          stmt.Bind("claimed_by", query.claimed_by);
      };
      auto count = tx.Prepare("SELECT COUNT(*) AS n " + std::string(kRequestFrom) + where, false);
      if (!count.ok())
        return count.error();
      bind(*count);
      DXHUB_TRY(count->ForEach([&](const Stmt& r) { page.total = r.Int("n"); }));
      // Overdue open requests rise to the top (as the worklist's waiting cap does), then the
      // most urgent priority, then the earliest due.
      auto rows = tx.Prepare(
          "SELECT " + RequestColumns(tx.dialect()) + kRequestFrom + where +
              " ORDER BY CASE WHEN q.status IN ('requested', 'claimed') AND q.due_at < "
              "CAST(:now AS BIGINT) THEN 0 WHEN q.status IN ('requested', 'claimed') THEN 1 "
              "ELSE 2 END, CASE q.priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, "
              "q.due_at, q.id LIMIT :limit OFFSET :offset",
          false);
      if (!rows.ok())
        return rows.error();
      bind(*rows);
      rows->Bind("now", query.now_ms)
          .Bind("limit", std::clamp(query.limit, 1, 500))
          .Bind("offset", std::max(query.offset, 0));
      return rows->ForEach(
          [&](const Stmt& r) { page.requests.push_back(ReadRequestRow(r, query.now_ms)); });
    });
    if (!st.ok())
      return st.error();
    return page;
  }

  Result<std::optional<ReadRequest>> Get(const Scope& scope, int64_t id, int64_t now_ms) override {
    std::optional<ReadRequest> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      auto found = RequestWhere(tx, scope, "q.id = :key", id, now_ms);
      if (!found.ok())
        return found.error();
      out = std::move(found.value());
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::optional<ReadRequest>> OfStudy(const Scope& scope, const std::string& study_uid,
                                             int64_t now_ms) override {
    std::optional<ReadRequest> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.reset();
      auto study = StudyIn(tx, scope, study_uid);
      if (!study.ok())
        return study.error();
      if (!study->has_value())
        return Ok();
      auto found = RequestWhere(tx, scope, "q.study_pk = :key", (*study)->pk, now_ms);
      if (!found.ok())
        return found.error();
      out = std::move(found.value());
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<ReadRequest> Claim(const Scope& scope, int64_t id, const std::string& user,
                            int64_t now_ms) override {
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto found = RequestWhere(tx, scope, "q.id = :key", id, now_ms);
      if (!found.ok())
        return found.error();
      if (!found->has_value())
        return MakeError(ErrorCode::kNotFound, "no such read request");
      const ReadRequest& q = **found;
      if (q.status == "claimed" && q.claimed_by == user)
        return Ok();
      if (q.status != "requested") {
        return MakeError(ErrorCode::kConflict, q.status == "claimed"
                                                   ? "claimed by " + q.claimed_by
                                                   : "the request is " + q.status);
      }
      // The status in the WHERE makes concurrent claims race in the database: one row changes.
      auto claim = tx.Prepare(
          "UPDATE read_requests SET status = 'claimed', claimed_by = :user, claimed_at = :now "
          "WHERE id = :id AND status = 'requested'");
      if (!claim.ok())
        return claim.error();
      claim->Bind("user", user).Bind("now", now_ms).Bind("id", id);
      DXHUB_TRY(claim->Run());
      if (claim->Changes() != 1)
        return MakeError(ErrorCode::kConflict, "claimed by another reader just now");
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return Fetch(scope, id, now_ms);
  }

  Status Release(const Scope& scope, int64_t id, const std::string& user, bool force) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto found = RequestWhere(tx, scope, "q.id = :key", id, 0);
      if (!found.ok())
        return found.error();
      if (!found->has_value())
        return MakeError(ErrorCode::kNotFound, "no such read request");
      if ((*found)->status != "claimed" || (!force && (*found)->claimed_by != user))
        return MakeError(ErrorCode::kConflict, "you do not hold this request");
      auto release = tx.Prepare(
          "UPDATE read_requests SET status = 'requested', claimed_by = '', claimed_at = NULL "
          "WHERE id = :id AND status = 'claimed'");
      if (!release.ok())
        return release.error();
      release->Bind("id", id);
      return release->Run();
    });
  }

  Status Cancel(const Scope& scope, int64_t id, int64_t now_ms) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto found = RequestWhere(tx, scope, "q.id = :key", id, now_ms);
      if (!found.ok())
        return found.error();
      if (!found->has_value())
        return MakeError(ErrorCode::kNotFound, "no such read request");
      if ((*found)->status != "requested")
        return MakeError(ErrorCode::kConflict, "a request is withdrawn only before it is claimed");
      auto cancel = tx.Prepare(
          "UPDATE read_requests SET status = 'cancelled', closed_at = :now WHERE id = :id AND "
          "status = 'requested'");
      if (!cancel.ok())
        return cancel.error();
      cancel->Bind("now", now_ms).Bind("id", id);
      DXHUB_TRY(cancel->Run());
      if (cancel->Changes() != 1)
        return MakeError(ErrorCode::kConflict, "claimed just now");
      return Ok();
    });
  }

  Result<std::vector<Report>> Reports(const Scope& scope, const std::string& study_uid,
                                      bool drafts) override {
    std::vector<Report> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(std::string(kReportColumns) + "WHERE s.study_uid = :uid" +
                                 (drafts ? "" : " AND o.status = 'signed'") +
                                 ScopeSqlCondition(scope, "s") + " ORDER BY o.version",
                             false);
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("uid", study_uid);
      return stmt->ForEach([&](const Stmt& r) { out.push_back(ReportRow(r)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<Report> SaveDraft(const Scope& scope, const ReportDraft& d) override {
    if (d.findings.size() > size_t{64} * 1024 || d.impression.size() > size_t{16} * 1024)
      return MakeError(ErrorCode::kInvalidArgument,
                       "findings have at most 64 KiB, the impression at most 16 KiB");
    int version = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      version = 0;
      auto study = StudyIn(tx, scope, d.study_uid);
      if (!study.ok())
        return study.error();
      if (!study->has_value())
        return MakeError(ErrorCode::kNotFound, "no such study");
      const int64_t pk = (*study)->pk;
      auto latest = tx.Prepare(
          "SELECT version, status, author FROM reports WHERE study_pk = :pk ORDER BY version "
          "DESC LIMIT 1");
      if (!latest.ok())
        return latest.error();
      latest->Bind("pk", pk);
      std::optional<Report> last;
      DXHUB_TRY(latest->ForEach([&](const Stmt& r) {
        last = Report{};
        last->version = static_cast<int>(r.Int("version"));
        last->status = r.Text("status");
        last->author = r.Text("author");
      }));
      if (last && last->status == "draft") {
        if (last->author != d.author)
          return MakeError(ErrorCode::kConflict, "a draft by " + last->author + " is open");
        auto update = tx.Prepare(
            "UPDATE reports SET findings = :findings, impression = :impression, updated_at = "
            ":now WHERE study_pk = :pk AND version = :version AND status = 'draft'");
        if (!update.ok())
          return update.error();
        update->Bind("findings", d.findings)
            .Bind("impression", d.impression)
            .Bind("now", d.now_ms)
            .Bind("pk", pk)
            .Bind("version", last->version);
        version = last->version;
        return update->Run();
      }
      // A new version: the report itself is written by whoever holds the open request.
      auto open = tx.Prepare(
          "SELECT id, status, claimed_by FROM read_requests WHERE study_pk = :pk AND status IN "
          "('requested', 'claimed')");
      if (!open.ok())
        return open.error();
      open->Bind("pk", pk);
      int64_t request = 0;
      std::string holder;
      std::string status;
      DXHUB_TRY(open->ForEach([&](const Stmt& r) {
        request = r.Int("id");
        holder = r.Text("claimed_by");
        status = r.Text("status");
      }));
      if (!last && request != 0 && holder != d.author) {
        return MakeError(ErrorCode::kConflict, status == "claimed"
                                                   ? "the read request is claimed by " + holder
                                                   : "claim the read request first");
      }
      auto insert = tx.Prepare(
          "INSERT INTO reports(study_pk, request_pk, version, status, findings, impression, "
          "author, created_at, updated_at) VALUES (:pk, :request, :version, 'draft', :findings, "
          ":impression, :author, :now, :now)");
      if (!insert.ok())
        return insert.error();
      version = last ? last->version + 1 : 1;
      insert->Bind("pk", pk)
          .Bind("version", version)
          .Bind("findings", d.findings)
          .Bind("impression", d.impression)
          .Bind("author", d.author)
          .Bind("now", d.now_ms);
      if (request != 0 && holder == d.author)
        insert->Bind("request", request);
      else
        insert->BindNull("request");
      return insert->Run();
    });
    if (!st.ok())
      return st.error();
    return Version(scope, d.study_uid, version);
  }

  Result<Report> Sign(const Scope& scope, const std::string& study_uid, int version,
                      const std::string& user, const std::string& sr_uid,
                      const std::string& pdf_uid, int64_t now_ms) override {
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto study = StudyIn(tx, scope, study_uid);
      if (!study.ok())
        return study.error();
      if (!study->has_value())
        return MakeError(ErrorCode::kNotFound, "no such study");
      auto draft = tx.Prepare(
          "SELECT id, author, COALESCE(request_pk, 0) AS request FROM reports WHERE study_pk = "
          ":pk AND version = :version AND status = 'draft'");
      if (!draft.ok())
        return draft.error();
      draft->Bind("pk", (*study)->pk).Bind("version", version);
      int64_t id = 0;
      int64_t request = 0;
      std::string author;
      DXHUB_TRY(draft->ForEach([&](const Stmt& r) {
        id = r.Int("id");
        author = r.Text("author");
        request = r.Int("request");
      }));
      if (id == 0)
        return MakeError(ErrorCode::kConflict, "no draft of version " + std::to_string(version));
      if (author != user)
        return MakeError(ErrorCode::kConflict, "the draft is " + author + "'s to sign");
      auto sign = tx.Prepare(
          "UPDATE reports SET status = 'signed', signed_at = :now, updated_at = :now, sr_uid = "
          ":sr, pdf_uid = :pdf WHERE id = :id AND status = 'draft'");
      if (!sign.ok())
        return sign.error();
      sign->Bind("now", now_ms).Bind("sr", sr_uid).Bind("pdf", pdf_uid).Bind("id", id);
      DXHUB_TRY(sign->Run());
      if (request == 0)
        return Ok();
      auto close = tx.Prepare(
          "UPDATE read_requests SET status = 'signed', closed_at = :now WHERE id = :id AND "
          "status IN ('requested', 'claimed')");
      if (!close.ok())
        return close.error();
      close->Bind("now", now_ms).Bind("id", request);
      return close->Run();
    });
    if (!st.ok())
      return st.error();
    return Version(scope, study_uid, version);
  }

  Result<std::vector<ReadTurnaround>> Turnaround(const Scope& scope, int64_t from_ms, int64_t to_ms,
                                                 int64_t now_ms) override {
    struct Acc {
      ReadTurnaround t;
      std::vector<double> seconds;
    };
    std::map<std::string, Acc> by;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      by.clear();
      auto stmt = tx.Prepare(
          "SELECT COALESCE((SELECT n.name FROM institutions n WHERE n.id = q.institution_pk), "
          "'') AS institution, q.status AS status, q.requested_at AS requested_at, q.due_at AS "
          "due_at, COALESCE(q.closed_at, 0) AS closed_at FROM read_requests q JOIN studies s ON "
          "s.id = q.study_pk WHERE q.requested_at >= :from AND q.requested_at < :to" +
              ScopeSqlCondition(scope, "s"),
          false);
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("from", from_ms).Bind("to", to_ms);
      return stmt->ForEach([&](const Stmt& r) {
        Acc& a = by[r.Text("institution")];
        a.t.institution = r.Text("institution");
        ++a.t.requested;
        const std::string status = r.Text("status");
        const int64_t due = r.Int("due_at");
        if (status == "signed") {
          ++a.t.signed_count;
          const int64_t closed = r.Int("closed_at");
          a.seconds.push_back(static_cast<double>(closed - r.Int("requested_at")) / 1000.0);
          if (closed > due)
            ++a.t.overdue;
        } else if (status == "requested" || status == "claimed") {
          ++a.t.open;
          if (now_ms > due)
            ++a.t.overdue;
        }
      });
    });
    if (!st.ok())
      return st.error();
    std::vector<ReadTurnaround> out;
    for (auto& [name, a] : by) {
      a.t.p50_s = Percentile(a.seconds, 0.5);
      a.t.p90_s = Percentile(a.seconds, 0.9);
      out.push_back(a.t);
    }
    return out;
  }

  Status AddRule(const std::string& institution, const std::string& modality,
                 ReadPriority priority) override {
    if (modality.size() > 16)
      return MakeError(ErrorCode::kInvalidArgument, "a modality has at most 16 characters");
    return db_.Write([&](Transaction& tx) -> Status {
      auto id = tx.Prepare("SELECT id FROM institutions WHERE name = :name");
      if (!id.ok())
        return id.error();
      id->Bind("name", institution);
      int64_t pk = 0;
      DXHUB_TRY(id->ForEach([&](const Stmt& r) { pk = r.Int("id"); }));
      if (pk == 0)
        return MakeError(ErrorCode::kNotFound, "no institution named '" + institution + "'");
      auto put = tx.Prepare(
          "INSERT INTO read_rules(institution_pk, modality, priority) VALUES (:pk, :modality, "
          ":priority) ON CONFLICT(institution_pk, modality) DO UPDATE SET priority = "
          "excluded.priority");
      if (!put.ok())
        return put.error();
      put->Bind("pk", pk).Bind("modality", modality).Bind("priority", ToString(priority));
      return put->Run();
    });
  }

  Result<std::vector<ReadRule>> Rules() override {
    std::vector<ReadRule> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(
          "SELECT n.name AS name, r.modality AS modality, r.priority AS priority FROM read_rules "
          "r JOIN institutions n ON n.id = r.institution_pk ORDER BY n.name, r.modality");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& r) {
        out.push_back({r.Text("name"), r.Text("modality"), r.Text("priority")});
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<int> ApplyRules(int64_t since_ms, int64_t now_ms,
                         const TurnaroundTargets& targets) override {
    int opened = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      opened = 0;
      // A study that ever had a request is left alone: a cancelled request was the clinic's
      // decision, a signed one is done.
      auto candidates = tx.Prepare(
          "SELECT s.id AS pk, s.institution_pk AS institution, r.priority AS priority FROM "
          "studies s JOIN read_rules r ON r.institution_pk = s.institution_pk WHERE s.stable_at "
          ">= :since AND (r.modality = '' OR EXISTS (SELECT 1 FROM series m WHERE m.study_pk = "
          "s.id AND m.modality = r.modality)) AND NOT EXISTS (SELECT 1 FROM read_requests x "
          "WHERE x.study_pk = s.id)");
      if (!candidates.ok())
        return candidates.error();
      candidates->Bind("since", since_ms);
      // The most urgent matching rule of each study wins.
      std::map<int64_t, std::pair<int64_t, ReadPriority>> best;
      DXHUB_TRY(candidates->ForEach([&](const Stmt& r) {
        auto priority = ParseReadPriority(r.Text("priority"));
        if (!priority.ok())
          return;
        auto [it, fresh] = best.try_emplace(r.Int("pk"), r.Int("institution"), *priority);
        if (!fresh && *priority < it->second.second)
          it->second.second = *priority;
      }));
      auto insert = tx.Prepare(
          "INSERT INTO read_requests(study_pk, institution_pk, priority, reason, requested_by, "
          "requested_at, due_at) VALUES (:pk, :institution, :priority, '', 'rule', :now, :due) "
          "ON CONFLICT DO NOTHING");
      if (!insert.ok())
        return insert.error();
      for (const auto& [pk, rule] : best) {
        insert->Reset();
        insert->Bind("pk", pk)
            .Bind("institution", rule.first)
            .Bind("priority", ToString(rule.second))
            .Bind("now", now_ms)
            .Bind("due", now_ms + targets.For(rule.second));
        DXHUB_TRY(insert->Run());
        opened += static_cast<int>(insert->Changes());
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return opened;
  }

 private:
  Result<ReadRequest> Fetch(const Scope& scope, int64_t id, int64_t now_ms) {
    auto got = Get(scope, id, now_ms);
    if (!got.ok())
      return got.error();
    if (!got->has_value())
      return MakeError(ErrorCode::kNotFound, "no such read request");
    return std::move(**got);
  }

  Result<Report> Version(const Scope& scope, const std::string& study_uid, int version) {
    auto all = Reports(scope, study_uid, true);
    if (!all.ok())
      return all.error();
    for (auto& r : *all) {
      if (r.version == version)
        return std::move(r);
    }
    return MakeError(ErrorCode::kNotFound, "no such report version");
  }

  sql::Database& db_;
};

}  // namespace

std::unique_ptr<ReadingStore> MakeSqlReadingStore(sql::Database& db) {
  return std::make_unique<SqlReadingStore>(db);
}

}  // namespace dxhub::store
