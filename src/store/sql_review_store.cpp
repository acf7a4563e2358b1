// ReviewStore written once over sql::Database, so SQLite and PostgreSQL run the same logic.

#include "store/sql_review_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/strings.h"
#include "store/sql_scope.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

// A study is "open" while a doctor still has to look at it: high-risk findings not all decided,
// or nothing to decide but never opened.
constexpr const char* kOpen =
    "(COALESCE(r.status, 'none') IN ('awaiting', 'partial') OR (COALESCE(r.status, 'none') = "
    "'none' AND s.viewed_at IS NULL))";

// Worklist tiers: 0 open and waiting past the cap, 1 open with high-risk findings, 2 open with
// failed images (the AI could not vouch for them), 3 other open studies, 4 done. Parameters:
// :now and :cap (PostgreSQL is told their type).
std::string TierSql() {
  return std::string("CASE WHEN NOT ") + kOpen +
         " THEN 4 WHEN CAST(:now AS BIGINT) - s.received_at > CAST(:cap AS BIGINT) THEN 0 "
         "WHEN COALESCE(r.high_risk, 0) > 0 THEN 1 WHEN COALESCE(r.failed, 0) > 0 THEN 2 ELSE 3 "
         "END";
}

// The display columns of a worklist row; `s` studies, `p` patients, `r` study_review.
std::string RowColumns(const sql::Dialect& d) {
  // The modalities come back ',' joined in no particular order; ReadRow sorts them and joins
  // them with '\', as ModalitiesInStudy has them.
  return "s.study_uid AS study_uid, p.patient_name AS patient_name, p.patient_id AS patient_id, "
         "s.study_date AS study_date, s.study_time AS study_time, s.accession_number AS "
         "accession_number, s.study_description AS study_description, COALESCE((SELECT " +
         d.JoinDistinct("m.modality") +
         " FROM series m WHERE m.study_pk = s.id), '') AS modalities, s.received_at AS "
         "received_at, COALESCE(s.viewed_at, 0) AS viewed_at, CASE WHEN COALESCE(r.status, "
         "'none') IN ('confirmed', 'rejected') THEN COALESCE(s.confirmed_at, 0) ELSE 0 END AS "
         "reviewed_at, COALESCE(r.status, 'none') AS review_status, COALESCE(r.reviewed_by, '') "
         "AS reviewed_by, COALESCE((SELECT n.name FROM institutions n WHERE n.id = "
         "s.institution_pk), '') AS institution ";
}

// The distinct modalities as the aggregate joined them (','), sorted bytewise and joined by '\'.
std::string SortedModalities(const std::string& joined) {
  std::vector<std::string> items = Split(joined, ",");
  std::sort(items.begin(), items.end());
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += '\\';
    out += items[i];
  }
  return out;
}

WorklistRow ReadRow(const Stmt& s) {
  WorklistRow row;
  row.study_uid = s.Text("study_uid");
  row.patient_name = s.Text("patient_name");
  row.patient_id = s.Text("patient_id");
  row.study_date = s.Text("study_date");
  row.study_time = s.Text("study_time");
  row.accession_number = s.Text("accession_number");
  row.description = s.Text("study_description");
  row.modalities = SortedModalities(s.Text("modalities"));
  row.received_ms = s.Int("received_at");
  row.viewed_ms = s.Int("viewed_at");
  row.reviewed_ms = s.Int("reviewed_at");
  row.review_status = s.Text("review_status");
  row.reviewed_by = s.Text("reviewed_by");
  row.institution = s.Text("institution");
  return row;
}

// LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally.
std::string Contains(const std::string& text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "%";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty())
    return -1;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(rank, v.size() - 1)];
}

class SqlReviewStore final : public ReviewStore {
 public:
  SqlReviewStore(sql::Database& db, AiStore& ai)
      : db_(db), ai_(ai), row_columns_(RowColumns(db.dialect())) {}

  Result<WorklistPage> Worklist(const Scope& scope, const WorklistQuery& q) override {
    const sql::Dialect& d = db_.dialect();
    // Parameters :now and :cap are used by the tier; filters bind as :a0, :a1, ...
    std::string where = " WHERE 1=1" + ScopeSqlCondition(scope, "s");
    std::vector<std::string> args;
    auto arg = [&](std::string value) {
      std::string name = sql::NumberedParam(args.size());
      args.push_back(std::move(value));
      return name;
    };
    if (!q.date_from.empty())
      where += " AND s.study_date >= :" + arg(q.date_from);
    if (!q.date_to.empty())
      where += " AND s.study_date <= :" + arg(q.date_to);
    if (!q.modality.empty())
      where += " AND EXISTS (SELECT 1 FROM series WHERE study_pk = s.id AND modality = :" +
               arg(q.modality) + ")";
    if (!q.text.empty()) {
      const std::string t = arg(Contains(q.text));
      where += " AND (" + d.LikeIgnoringCase("p.patient_name", t) + " OR " +
               d.LikeIgnoringCase("p.patient_id", t) + " OR " +
               d.LikeIgnoringCase("s.accession_number", t) + " OR " +
               d.LikeIgnoringCase("s.study_description", t) + ")";
    }
    if (q.status == "open") {
      where += std::string(" AND ") + kOpen;
    } else if (!q.status.empty()) {
      static const std::set<std::string> kStatuses = {"none", "awaiting", "partial", "confirmed",
                                                      "rejected"};
      if (kStatuses.count(q.status) == 0)
        return MakeError(ErrorCode::kInvalidArgument, "unknown review status: " + q.status);
      where += " AND COALESCE(r.status, 'none') = :" + arg(q.status);
    }
    const std::string pending =
        "EXISTS (SELECT 1 FROM ai_jobs WHERE study_pk = s.id AND state IN ('pending', "
        "'running'))";
    if (q.risk == "high") {
      where += " AND COALESCE(r.high_risk, 0) > 0";
    } else if (q.risk == "failed") {
      where += " AND COALESCE(r.failed, 0) > 0";
    } else if (q.risk == "pending") {
      where += " AND " + pending;
    } else if (q.risk == "normal") {
      where += " AND COALESCE(r.high_risk, 0) = 0 AND COALESCE(r.failed, 0) = 0 AND NOT " +
               pending + " AND EXISTS (SELECT 1 FROM ai_jobs WHERE study_pk = s.id)";
    } else if (!q.risk.empty()) {
      return MakeError(ErrorCode::kInvalidArgument, "unknown risk filter: " + q.risk);
    }
    const std::string from =
        " FROM studies s JOIN patients p ON p.id = s.patient_pk LEFT JOIN study_review r ON "
        "r.study_pk = s.id";
    // The page is picked on sort keys alone; the display columns (one of them a subquery) are
    // then read for its rows only, not for every matching study. The keys are computed in a
    // subquery of their own because PostgreSQL's ORDER BY cannot use output aliases inside
    // expressions.
    const std::string picked =
        "SELECT sid, tier, risk, received FROM (SELECT s.id AS sid, " + TierSql() +
        " AS tier, COALESCE(r.highest_risk, 0) AS risk, s.received_at AS received" + from + where +
        ") AS k ORDER BY tier, CASE WHEN tier = 1 THEN -risk ELSE 0 END, CASE WHEN tier = 4 THEN "
        "-received ELSE received END, sid LIMIT " +
        std::to_string(std::clamp(q.limit, 1, 500)) + " OFFSET " +
        std::to_string(std::max(q.offset, 0));
    const std::string text =
        "SELECT " + row_columns_ + ", page.tier AS tier FROM (" + picked +
        ") AS page JOIN studies s ON s.id = page.sid JOIN patients p ON p.id = s.patient_pk LEFT "
        "JOIN study_review r ON r.study_pk = s.id ORDER BY page.tier, CASE WHEN page.tier = 1 "
        "THEN -page.risk ELSE 0 END, CASE WHEN page.tier = 4 THEN -page.received ELSE "
        "page.received END, page.sid";
    auto bind_args = [&](Stmt& stmt) {
      for (size_t i = 0; i < args.size(); ++i)
        stmt.Bind(sql::NumberedParam(i), args[i]);
    };
    WorklistPage page;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      page = WorklistPage{};
      auto count = tx.Prepare("SELECT COUNT(*) AS n" + from + where, /*cache=*/false);
      if (!count.ok())
        return count.error();
      bind_args(*count);
      DXHUB_TRY(count->ForEach([&](const Stmt& s) { page.total = s.Int("n"); }));
      auto rows = tx.Prepare(text, /*cache=*/false);
      if (!rows.ok())
        return rows.error();
      rows->Bind("now", q.now_ms).Bind("cap", q.wait_cap_ms);
      bind_args(*rows);
      return rows->ForEach([&](const Stmt& s) {
        WorklistRow row = ReadRow(s);
        row.overdue = s.Int("tier") == 0;
        page.rows.push_back(std::move(row));
      });
    });
    if (!st.ok())
      return st.error();
    DXHUB_TRY(FillSummaries(page.rows));
    return page;
  }

  Result<std::string> ChangeStamp() override {
    std::string stamp;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(
          "SELECT (SELECT COALESCE(MAX(id), 0) FROM instances) AS instances, (SELECT "
          "COALESCE(MAX(id), 0) FROM ai_results) AS results, (SELECT COALESCE(MAX(id), 0) FROM "
          "decisions) AS decisions, (SELECT COUNT(*) FROM ai_jobs WHERE state = 'pending') AS "
          "pending");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& s) {
        stamp = std::to_string(s.Int("instances")) + "." + std::to_string(s.Int("results")) + "." +
                std::to_string(s.Int("decisions")) + "." + std::to_string(s.Int("pending"));
      });
    });
    if (!st.ok())
      return st.error();
    return stamp;
  }

  Status MarkViewed(const std::string& study_uid, int64_t now_ms) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(
          "UPDATE studies SET viewed_at = :now WHERE study_uid = :study_uid AND viewed_at IS "
          "NULL");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("study_uid", study_uid).Bind("now", now_ms);
      return stmt->Run();
    });
  }

  Result<std::string> Decide(const DecisionInput& d) override {
    if (d.verdict != "confirm" && d.verdict != "reject")
      return MakeError(ErrorCode::kInvalidArgument,
                       "verdict must be \"confirm\" or \"reject\", not \"" + d.verdict + "\"");
    std::string status;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      status.clear();
      auto find_study = tx.Prepare("SELECT id FROM studies WHERE study_uid = :study_uid");
      if (!find_study.ok())
        return find_study.error();
      find_study->Bind("study_uid", d.study_uid);
      auto study = FirstId(*find_study);
      if (!study.ok())
        return study.error();
      if (!*study)
        return MakeError(ErrorCode::kNotFound, "no such study: " + d.study_uid);
      const int64_t study_pk = **study;
      auto findings = HighRiskFindings(tx, study_pk);
      if (!findings.ok())
        return findings.error();
      auto insert = tx.Prepare(
          "INSERT INTO decisions(study_pk, instance_pk, result_pk, model, version, verdict, "
          "comment, username, at) VALUES (:study_pk, :instance_pk, :result_pk, :model, :version, "
          ":verdict, :comment, :username, :at)");
      if (!insert.ok())
        return insert.error();
      auto record = [&](const Finding* f) -> Status {
        insert->Bind("study_pk", study_pk);
        if (f != nullptr) {
          insert->Bind("instance_pk", f->instance_pk)
              .Bind("result_pk", f->result_pk)
              .Bind("model", f->model)
              .Bind("version", f->version);
        } else {
          insert->BindNull("instance_pk")
              .BindNull("result_pk")
              .Bind("model", "")
              .Bind("version", "");
        }
        insert->Bind("verdict", d.verdict)
            .Bind("comment", d.comment)
            .Bind("username", d.username)
            .Bind("at", d.now_ms);
        Status run = insert->Run();
        insert->Reset();
        return run;
      };
      if (!d.sop_uid.empty()) {
        auto find_instance = tx.Prepare(
            "SELECT i.id AS id FROM instances i JOIN series se ON se.id = i.series_pk WHERE "
            "i.sop_uid = :sop_uid AND se.study_pk = :study_pk");
        if (!find_instance.ok())
          return find_instance.error();
        find_instance->Bind("sop_uid", d.sop_uid).Bind("study_pk", study_pk);
        auto instance = FirstId(*find_instance);
        if (!instance.ok())
          return instance.error();
        if (!*instance)
          return MakeError(ErrorCode::kNotFound, "no such image in this study: " + d.sop_uid);
        auto it = std::find_if(findings->begin(), findings->end(),
                               [&](const Finding& f) { return f.instance_pk == **instance; });
        if (it == findings->end())
          return MakeError(ErrorCode::kInvalidArgument,
                           "the AI made no high-risk finding on this image: nothing to decide");
        DXHUB_TRY(record(&*it));
      } else {
        if (findings->empty())
          return MakeError(ErrorCode::kInvalidArgument,
                           "the AI made no high-risk finding in this study: nothing to decide");
        DXHUB_TRY(record(nullptr));
        // A study-level verdict decides every finding nobody has decided yet, so statistics per
        // model version count it; findings already decided one by one keep their own verdict.
        for (const auto& f : *findings) {
          if (!f.decided)
            DXHUB_TRY(record(&f));
        }
      }
      auto refreshed = RefreshStudyReview(tx, study_pk, d.now_ms);
      if (!refreshed.ok())
        return refreshed.error();
      status = *refreshed;
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return status;
  }

  Result<std::vector<DecisionRecord>> Decisions(const Scope& scope,
                                                const std::string& study_uid) override {
    std::vector<DecisionRecord> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(
          "SELECT d.id AS id, COALESCE(i.sop_uid, '') AS sop_uid, d.model AS model, d.version AS "
          "version, COALESCE(r.label, '') AS label, d.verdict AS verdict, d.comment AS comment, "
          "d.username AS username, d.at AS at FROM decisions d LEFT JOIN instances i ON i.id = "
          "d.instance_pk LEFT JOIN ai_results r ON r.id = d.result_pk WHERE d.study_pk = (SELECT "
          "s.id FROM studies s WHERE s.study_uid = :study_uid" +
              ScopeSqlCondition(scope, "s") + ") ORDER BY d.id DESC",
          /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("study_uid", study_uid);
      return stmt->ForEach([&](const Stmt& s) {
        out.push_back({s.Int("id"), s.Text("sop_uid"), s.Text("model"), s.Text("version"),
                       s.Text("label"), s.Text("verdict"), s.Text("comment"), s.Text("username"),
                       s.Int("at")});
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::optional<WorklistRow>> Review(const Scope& scope,
                                            const std::string& study_uid) override {
    std::vector<WorklistRow> rows;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      rows.clear();
      auto stmt = tx.Prepare("SELECT " + row_columns_ +
                                 " FROM studies s JOIN patients p ON p.id = s.patient_pk LEFT JOIN "
                                 "study_review r ON r.study_pk = s.id WHERE s.study_uid = "
                                 ":study_uid" +
                                 ScopeSqlCondition(scope, "s"),
                             /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("study_uid", study_uid);
      return stmt->ForEach([&](const Stmt& s) { rows.push_back(ReadRow(s)); });
    });
    if (!st.ok())
      return st.error();
    if (rows.empty())
      return std::optional<WorklistRow>();
    DXHUB_TRY(FillSummaries(rows));
    return std::optional<WorklistRow>(std::move(rows.front()));
  }

  Result<std::vector<ModelReviewStats>> Stats(int64_t from_ms, int64_t to_ms) override {
    std::map<std::pair<std::string, std::string>, ModelReviewStats> by_model;
    struct Times {
      std::vector<double> to_ai, to_viewed, to_reviewed, total;
    };
    std::map<std::pair<std::string, std::string>, Times> times;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      by_model.clear();
      times.clear();
      // Each model version's own latest reading of each image, and the latest decision on it.
      auto calls = tx.Prepare(
          "WITH latest AS (SELECT j.instance_pk, j.study_pk, j.model, j.version, r.status, "
          "r.high_risk FROM ai_jobs j JOIN ai_results r ON r.job_pk = j.id JOIN studies s ON s.id "
          "= j.study_pk WHERE s.received_at >= :from_ms AND s.received_at < :to_ms AND j.id = "
          "(SELECT MAX(j2.id) FROM ai_jobs j2 WHERE j2.instance_pk = j.instance_pk AND j2.model = "
          "j.model AND j2.version = j.version AND j2.state IN ('done', 'failed'))) "
          "SELECT l.model AS model, l.version AS version, CAST(SUM(CASE WHEN l.status = "
          "'analysed' THEN 1 ELSE 0 END) AS BIGINT) AS images, CAST(SUM(l.high_risk) AS BIGINT) "
          "AS high_risk, CAST(SUM(CASE WHEN l.high_risk <> 0 AND d.verdict = 'confirm' THEN 1 "
          "ELSE 0 END) AS BIGINT) AS confirmed, CAST(SUM(CASE WHEN l.high_risk <> 0 AND "
          "d.verdict = 'reject' THEN 1 ELSE 0 END) AS BIGINT) AS rejected, COUNT(DISTINCT "
          "l.study_pk) AS studies FROM latest l LEFT JOIN decisions d ON d.id = (SELECT "
          "MAX(d2.id) FROM decisions d2 WHERE d2.instance_pk = l.instance_pk AND d2.model = "
          "l.model AND d2.version = l.version) GROUP BY l.model, l.version");
      if (!calls.ok())
        return calls.error();
      calls->Bind("from_ms", from_ms).Bind("to_ms", to_ms);
      DXHUB_TRY(calls->ForEach([&](const Stmt& s) {
        ModelReviewStats& m = by_model[{s.Text("model"), s.Text("version")}];
        m.model = s.Text("model");
        m.version = s.Text("version");
        m.images = s.Int("images");
        m.high_risk = s.Int("high_risk");
        m.confirmed = s.Int("confirmed");
        m.rejected = s.Int("rejected");
        m.undecided = m.high_risk - m.confirmed - m.rejected;
        m.studies = s.Int("studies");
      }));
      // r.status is grouped on too (one review row per study at most, so the groups are the
      // same): PostgreSQL accepts only columns of the grouped study's own table otherwise.
      auto turnaround = tx.Prepare(
          "SELECT j.model AS model, j.version AS version, s.received_at AS received_at, "
          "MAX(COALESCE(j.finished_at, 0)) AS finished_at, CAST(SUM(CASE WHEN j.state IN "
          "('pending', 'running') THEN 1 ELSE 0 END) AS BIGINT) AS unfinished, "
          "COALESCE(s.viewed_at, 0) AS viewed_at, CASE WHEN r.status IN ('confirmed', "
          "'rejected') THEN COALESCE(s.confirmed_at, 0) ELSE 0 END AS reviewed_at FROM ai_jobs j "
          "JOIN studies s ON s.id = j.study_pk LEFT JOIN study_review r ON r.study_pk = s.id "
          "WHERE s.received_at >= :from_ms AND s.received_at < :to_ms GROUP BY j.model, "
          "j.version, s.id, r.status");
      if (!turnaround.ok())
        return turnaround.error();
      turnaround->Bind("from_ms", from_ms).Bind("to_ms", to_ms);
      return turnaround->ForEach([&](const Stmt& s) {
        Times& t = times[{s.Text("model"), s.Text("version")}];
        const auto seconds = [](int64_t from, int64_t to) {
          return static_cast<double>(to - from) / 1000.0;
        };
        const int64_t received = s.Int("received_at");
        const int64_t ai = s.Int("unfinished") == 0 ? s.Int("finished_at") : 0;
        const int64_t viewed = s.Int("viewed_at");
        const int64_t reviewed = s.Int("reviewed_at");
        if (ai > 0)
          t.to_ai.push_back(seconds(received, ai));
        if (ai > 0 && viewed > 0)
          t.to_viewed.push_back(seconds(ai, viewed));
        if (viewed > 0 && reviewed > 0)
          t.to_reviewed.push_back(seconds(viewed, reviewed));
        if (reviewed > 0)
          t.total.push_back(seconds(received, reviewed));
      });
    });
    if (!st.ok())
      return st.error();
    std::vector<ModelReviewStats> out;
    for (auto& [key, m] : by_model) {
      const Times& t = times[key];
      m.received_to_ai_p50 = Percentile(t.to_ai, 0.5);
      m.received_to_ai_p90 = Percentile(t.to_ai, 0.9);
      m.ai_to_viewed_p50 = Percentile(t.to_viewed, 0.5);
      m.ai_to_viewed_p90 = Percentile(t.to_viewed, 0.9);
      m.viewed_to_reviewed_p50 = Percentile(t.to_reviewed, 0.5);
      m.viewed_to_reviewed_p90 = Percentile(t.to_reviewed, 0.9);
      m.received_to_reviewed_p50 = Percentile(t.total, 0.5);
      m.received_to_reviewed_p90 = Percentile(t.total, 0.9);
      out.push_back(std::move(m));
    }
    return out;
  }

 private:
  struct Finding {
    int64_t instance_pk = 0;
    int64_t result_pk = 0;
    std::string model;
    std::string version;
    bool decided = false;
  };

  // The riskiest current high-risk reading of each image of the study, and whether a doctor
  // already decided on that image.
  static Result<std::vector<Finding>> HighRiskFindings(Transaction& tx, int64_t study_pk) {
    auto stmt = tx.Prepare(
        "SELECT j.instance_pk AS instance_pk, r.id AS result_pk, j.model AS model, j.version AS "
        "version, CASE WHEN EXISTS (SELECT 1 FROM decisions d WHERE d.instance_pk = "
        "j.instance_pk) THEN 1 ELSE 0 END AS decided FROM ai_jobs j JOIN ai_results r ON "
        "r.job_pk = j.id WHERE j.study_pk = :study_pk AND r.high_risk = 1 AND j.id = (SELECT "
        "MAX(j2.id) FROM ai_jobs j2 WHERE j2.instance_pk = j.instance_pk AND j2.model = j.model) "
        "ORDER BY j.instance_pk, r.risk_score DESC");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind("study_pk", study_pk);
    std::vector<Finding> out;
    DXHUB_TRY(stmt->ForEach([&](const Stmt& s) {
      const int64_t instance_pk = s.Int("instance_pk");
      if (!out.empty() && out.back().instance_pk == instance_pk)
        return;  // a second model's finding on the same image: the riskiest is decided on
      out.push_back({instance_pk, s.Int("result_pk"), s.Text("model"), s.Text("version"),
                     s.Int("decided") != 0});
    }));
    return out;
  }

  // Runs a bound lookup and returns the `id` of its row, if any.
  static Result<std::optional<int64_t>> FirstId(Stmt& stmt) {
    std::optional<int64_t> id;
    DXHUB_TRY(stmt.ForEach([&](const Stmt& s) { id = s.Int("id"); }));
    return id;
  }

  Status FillSummaries(std::vector<WorklistRow>& rows) {
    std::vector<std::string> uids;
    uids.reserve(rows.size());
    for (const auto& row : rows)
      uids.push_back(row.study_uid);
    // The rows were found in the caller's scope already.
    auto summaries = ai_.StudySummaries(Scope::Everything(), uids);
    if (!summaries.ok())
      return summaries.error();
    std::map<std::string, StudyAiSummary> by_uid(summaries->begin(), summaries->end());
    for (auto& row : rows)
      row.ai = by_uid[row.study_uid];
    return Ok();
  }

  sql::Database& db_;
  AiStore& ai_;
  std::string row_columns_;  // RowColumns for this database's dialect
};

}  // namespace

Result<std::string> RefreshStudyReview(Transaction& tx, int64_t study_pk, int64_t now_ms) {
  // Latest reading of each (image, model), folded per image the way the AI summary folds it:
  // pending beats high-risk beats failed.
  auto readings = tx.Prepare(
      "SELECT j.instance_pk AS instance_pk, j.state AS state, COALESCE(r.status, '') AS status, "
      "COALESCE(r.high_risk, 0) AS high_risk, COALESCE(r.risk_score, 0) AS risk_score, "
      "COALESCE(r.label, '') AS label FROM ai_jobs j LEFT JOIN ai_results r ON r.job_pk = j.id "
      "WHERE j.study_pk = :study_pk AND j.id = (SELECT MAX(j2.id) FROM ai_jobs j2 WHERE "
      "j2.instance_pk = j.instance_pk AND j2.model = j.model)");
  if (!readings.ok())
    return readings.error();
  readings->Bind("study_pk", study_pk);
  struct Image {
    bool pending = false, high_risk = false, failed = false;
  };
  std::map<int64_t, Image> images;
  double highest = 0;
  std::string label;
  DXHUB_TRY(readings->ForEach([&](const Stmt& s) {
    Image& image = images[s.Int("instance_pk")];
    const std::string state = s.Text("state");
    if (state == "pending" || state == "running") {
      image.pending = true;
    } else if (s.Text("status") == "failed") {
      image.failed = true;
    } else if (s.Int("high_risk") != 0) {
      image.high_risk = true;
      const double risk = s.Double("risk_score");
      if (risk >= highest) {
        highest = risk;
        label = s.Text("label");
      }
    }
  }));
  std::set<int64_t> high_risk;
  int failed = 0;
  for (const auto& [pk, image] : images) {
    if (image.pending)
      continue;
    if (image.high_risk)
      high_risk.insert(pk);
    else if (image.failed)
      ++failed;
  }
  auto decisions = tx.Prepare(
      "SELECT d.instance_pk AS instance_pk, d.verdict AS verdict, d.username AS username FROM "
      "decisions d WHERE d.study_pk = :study_pk AND d.instance_pk IS NOT NULL AND d.id = (SELECT "
      "MAX(d2.id) FROM decisions d2 WHERE d2.instance_pk = d.instance_pk) ORDER BY d.id");
  if (!decisions.ok())
    return decisions.error();
  decisions->Bind("study_pk", study_pk);
  int decided = 0;
  bool any_confirmed = false;
  std::string reviewed_by;
  DXHUB_TRY(decisions->ForEach([&](const Stmt& s) {
    if (high_risk.count(s.Int("instance_pk")) == 0)
      return;  // decided on a reading that is no longer high-risk (rerun)
    ++decided;
    any_confirmed = any_confirmed || s.Text("verdict") == "confirm";
    reviewed_by = s.Text("username");
  }));
  std::string status = "none";
  if (!high_risk.empty()) {
    const auto total = static_cast<int>(high_risk.size());
    if (decided == 0)
      status = "awaiting";
    else if (decided < total)
      status = "partial";
    else
      status = any_confirmed ? "confirmed" : "rejected";
  }
  auto upsert = tx.Prepare(
      "INSERT INTO study_review(study_pk, high_risk, failed, highest_risk, label, status, "
      "reviewed_by, updated_at) VALUES (:study_pk, :high_risk, :failed, :highest_risk, :label, "
      ":status, :reviewed_by, :updated_at) ON CONFLICT(study_pk) DO UPDATE SET high_risk = "
      "excluded.high_risk, failed = excluded.failed, highest_risk = excluded.highest_risk, label = "
      "excluded.label, status = excluded.status, reviewed_by = excluded.reviewed_by, updated_at = "
      "excluded.updated_at");
  if (!upsert.ok())
    return upsert.error();
  upsert->Bind("study_pk", study_pk)
      .Bind("high_risk", static_cast<int64_t>(high_risk.size()))
      .Bind("failed", failed)
      .Bind("highest_risk", highest)
      .Bind("label", label)
      .Bind("status", status)
      .Bind("reviewed_by", reviewed_by)
      .Bind("updated_at", now_ms);
  DXHUB_TRY(upsert->Run());
  if (status == "confirmed" || status == "rejected") {
    // The first time the study's findings were all decided: turnaround "confirmed".
    auto stamp = tx.Prepare(
        "UPDATE studies SET confirmed_at = :now WHERE id = :study_pk AND confirmed_at IS NULL");
    if (!stamp.ok())
      return stamp.error();
    stamp->Bind("study_pk", study_pk).Bind("now", now_ms);
    DXHUB_TRY(stamp->Run());
  }
  return status;
}

std::unique_ptr<ReviewStore> MakeSqlReviewStore(sql::Database& db, AiStore& ai) {
  return std::make_unique<SqlReviewStore>(db, ai);
}

}  // namespace dxhub::store
