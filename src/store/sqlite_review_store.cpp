#include "store/sqlite_review_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace dxhub::store {
namespace {

using sqlite::Db;
using sqlite::ForEachRow;
using sqlite::Stmt;

// A study is "open" while a doctor still has to look at it: high-risk findings not all decided,
// or nothing to decide but never opened.
constexpr const char* kOpen =
    "(COALESCE(r.status, 'none') IN ('awaiting', 'partial') OR (COALESCE(r.status, 'none') = "
    "'none' AND s.viewed_at IS NULL))";

// Worklist tiers: 0 open and waiting past the cap, 1 open with high-risk findings, 2 open with
// failed images (the AI could not vouch for them), 3 other open studies, 4 done.
std::string TierSql() {
  return std::string("CASE WHEN NOT ") + kOpen +
         " THEN 4 WHEN ?1 - s.received_at > ?2 THEN 0 WHEN COALESCE(r.high_risk, 0) > 0 THEN 1 "
         "WHEN COALESCE(r.failed, 0) > 0 THEN 2 ELSE 3 END";
}

constexpr const char* kRowColumns =
    "s.study_uid, p.patient_name, p.patient_id, s.study_date, s.study_time, s.accession_number, "
    "s.study_description, (SELECT group_concat(m, '\\') FROM (SELECT DISTINCT modality AS m FROM "
    "series WHERE study_pk = s.id ORDER BY modality)), s.received_at, COALESCE(s.viewed_at, 0), "
    "CASE WHEN COALESCE(r.status, 'none') IN ('confirmed', 'rejected') THEN "
    "COALESCE(s.confirmed_at, 0) ELSE 0 END, COALESCE(r.status, 'none'), "
    "COALESCE(r.reviewed_by, '') ";

WorklistRow ReadRow(const Stmt& s) {
  WorklistRow row;
  row.study_uid = s.Text(0);
  row.patient_name = s.Text(1);
  row.patient_id = s.Text(2);
  row.study_date = s.Text(3);
  row.study_time = s.Text(4);
  row.accession_number = s.Text(5);
  row.description = s.Text(6);
  row.modalities = s.Text(7);
  row.received_ms = s.Int(8);
  row.viewed_ms = s.Int(9);
  row.reviewed_ms = s.Int(10);
  row.review_status = s.Text(11);
  row.reviewed_by = s.Text(12);
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

class SqliteReviewStore final : public ReviewStore {
 public:
  SqliteReviewStore(sqlite::Access& db, AiStore& ai) : db_(db), ai_(ai) {}

  Result<WorklistPage> Worklist(const WorklistQuery& q) override {
    // Parameters ?1 now and ?2 cap are used by the tier; filters bind from ?3 on.
    std::string where = " WHERE 1";
    std::vector<std::string> args;
    auto arg = [&](std::string value) {
      args.push_back(std::move(value));
      return "?" + std::to_string(args.size() + 2);
    };
    if (!q.date_from.empty())
      where += " AND s.study_date >= " + arg(q.date_from);
    if (!q.date_to.empty())
      where += " AND s.study_date <= " + arg(q.date_to);
    if (!q.modality.empty())
      where += " AND EXISTS (SELECT 1 FROM series WHERE study_pk = s.id AND modality = " +
               arg(q.modality) + ")";
    if (!q.text.empty()) {
      const std::string t = arg(Contains(q.text));
      where += " AND (p.patient_name LIKE " + t + " ESCAPE '\\' OR p.patient_id LIKE " + t +
               " ESCAPE '\\' OR s.accession_number LIKE " + t +
               " ESCAPE '\\' OR s.study_description LIKE " + t + " ESCAPE '\\')";
    }
    if (q.status == "open") {
      where += std::string(" AND ") + kOpen;
    } else if (!q.status.empty()) {
      static const std::set<std::string> kStatuses = {"none", "awaiting", "partial", "confirmed",
                                                      "rejected"};
      if (kStatuses.count(q.status) == 0)
        return MakeError(ErrorCode::kInvalidArgument, "unknown review status: " + q.status);
      where += " AND COALESCE(r.status, 'none') = " + arg(q.status);
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
    // then read for its rows only, not for every matching study.
    const std::string order =
        " ORDER BY tier, CASE WHEN tier = 1 THEN -risk ELSE 0 END, CASE WHEN tier = 4 THEN "
        "-received ELSE received END, sid";
    const std::string picked = "SELECT s.id AS sid, " + TierSql() +
                               " AS tier, COALESCE(r.highest_risk, 0) AS risk, s.received_at AS "
                               "received" +
                               from + where + order + " LIMIT " +
                               std::to_string(std::clamp(q.limit, 1, 500)) + " OFFSET " +
                               std::to_string(std::max(q.offset, 0));
    const std::string sql = "SELECT " + std::string(kRowColumns) + ", tier FROM (" + picked +
                            ") JOIN studies s ON s.id = sid JOIN patients p ON p.id = "
                            "s.patient_pk LEFT JOIN study_review r ON r.study_pk = s.id" +
                            order;
    WorklistPage page;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto count = Stmt::Prepare(db, "SELECT COUNT(*), ?1, ?2" + from + where);
      auto rows = Stmt::Prepare(db, sql);
      if (!count.ok())
        return count.error();
      if (!rows.ok())
        return rows.error();
      for (Stmt* stmt : {&*count, &*rows}) {
        stmt->Bind(1, q.now_ms).Bind(2, q.wait_cap_ms);
        for (size_t i = 0; i < args.size(); ++i)
          stmt->Bind(static_cast<int>(i) + 3, args[i]);
      }
      DXHUB_TRY(ForEachRow(*count, [&](const Stmt& s) { page.total = s.Int(0); }));
      return ForEachRow(*rows, [&](const Stmt& s) {
        WorklistRow row = ReadRow(s);
        row.overdue = s.Int(13) == 0;
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
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db,
                                "SELECT (SELECT COALESCE(MAX(id), 0) FROM instances), (SELECT "
                                "COALESCE(MAX(id), 0) FROM ai_results), (SELECT COALESCE(MAX(id), "
                                "0) FROM decisions), (SELECT COUNT(*) FROM ai_jobs WHERE state = "
                                "'pending')");
      if (!stmt.ok())
        return stmt.error();
      return ForEachRow(*stmt, [&](const Stmt& s) {
        stamp = std::to_string(s.Int(0)) + "." + std::to_string(s.Int(1)) + "." +
                std::to_string(s.Int(2)) + "." + std::to_string(s.Int(3));
      });
    });
    if (!st.ok())
      return st.error();
    return stamp;
  }

  Status MarkViewed(const std::string& study_uid, int64_t now_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db, "UPDATE studies SET viewed_at = ?2 WHERE study_uid = ?1 AND viewed_at IS NULL");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, study_uid).Bind(2, now_ms);
      return stmt->Run();
    });
  }

  Result<std::string> Decide(const DecisionInput& d) override {
    if (d.verdict != "confirm" && d.verdict != "reject")
      return MakeError(ErrorCode::kInvalidArgument,
                       "verdict must be \"confirm\" or \"reject\", not \"" + d.verdict + "\"");
    std::string status;
    Status st = db_.Write([&](const Db& db) -> Status {
      auto study = Lookup(db, "SELECT id FROM studies WHERE study_uid = ?1", d.study_uid);
      if (!study.ok())
        return study.error();
      if (!*study)
        return MakeError(ErrorCode::kNotFound, "no such study: " + d.study_uid);
      const int64_t study_pk = **study;
      auto findings = HighRiskFindings(db, study_pk);
      if (!findings.ok())
        return findings.error();
      auto insert = Stmt::Prepare(
          db,
          "INSERT INTO decisions(study_pk, instance_pk, result_pk, model, version, verdict, "
          "comment, username, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      if (!insert.ok())
        return insert.error();
      auto record = [&](const Finding* f) -> Status {
        insert->Bind(1, study_pk);
        if (f != nullptr) {
          insert->Bind(2, f->instance_pk)
              .Bind(3, f->result_pk)
              .Bind(4, f->model)
              .Bind(5, f->version);
        } else {
          insert->BindNull(2).BindNull(3).Bind(4, "").Bind(5, "");
        }
        insert->Bind(6, d.verdict).Bind(7, d.comment).Bind(8, d.username).Bind(9, d.now_ms);
        Status run = insert->Run();
        insert->Reset();
        return run;
      };
      if (!d.sop_uid.empty()) {
        auto instance =
            Lookup(db,
                   "SELECT i.id FROM instances i JOIN series se ON se.id = i.series_pk WHERE "
                   "i.sop_uid = ?1 AND se.study_pk = " +
                       std::to_string(study_pk),
                   d.sop_uid);
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
      auto refreshed = RefreshStudyReview(db, study_pk, d.now_ms);
      if (!refreshed.ok())
        return refreshed.error();
      status = *refreshed;
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return status;
  }

  Result<std::vector<DecisionRecord>> Decisions(const std::string& study_uid) override {
    std::vector<DecisionRecord> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db,
          "SELECT d.id, COALESCE(i.sop_uid, ''), d.model, d.version, COALESCE(r.label, ''), "
          "d.verdict, d.comment, d.username, d.at FROM decisions d LEFT JOIN instances i ON i.id "
          "= d.instance_pk LEFT JOIN ai_results r ON r.id = d.result_pk WHERE d.study_pk = "
          "(SELECT id FROM studies WHERE study_uid = ?1) ORDER BY d.id DESC");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, study_uid);
      return ForEachRow(*stmt, [&](const Stmt& s) {
        out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6),
                       s.Text(7), s.Int(8)});
      });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::optional<WorklistRow>> Review(const std::string& study_uid) override {
    std::vector<WorklistRow> rows;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db, "SELECT " + std::string(kRowColumns) +
                                        " FROM studies s JOIN patients p ON p.id = s.patient_pk "
                                        "LEFT JOIN study_review r ON r.study_pk = s.id WHERE "
                                        "s.study_uid = ?1");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, study_uid);
      return ForEachRow(*stmt, [&](const Stmt& s) { rows.push_back(ReadRow(s)); });
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
    Status st = db_.Read([&](const Db& db) -> Status {
      // Each model version's own latest reading of each image, and the latest decision on it.
      auto calls = Stmt::Prepare(
          db,
          "WITH latest AS (SELECT j.instance_pk, j.study_pk, j.model, j.version, r.status, "
          "r.high_risk FROM ai_jobs j JOIN ai_results r ON r.job_pk = j.id JOIN studies s ON s.id "
          "= j.study_pk WHERE s.received_at >= ?1 AND s.received_at < ?2 AND j.id = (SELECT "
          "MAX(j2.id) FROM ai_jobs j2 WHERE j2.instance_pk = j.instance_pk AND j2.model = j.model "
          "AND j2.version = j.version AND j2.state IN ('done', 'failed'))) "
          "SELECT l.model, l.version, SUM(l.status = 'analysed'), SUM(l.high_risk), "
          "SUM(l.high_risk AND d.verdict = 'confirm'), SUM(l.high_risk AND d.verdict = 'reject'), "
          "COUNT(DISTINCT l.study_pk) FROM latest l LEFT JOIN decisions d ON d.id = (SELECT "
          "MAX(d2.id) FROM decisions d2 WHERE d2.instance_pk = l.instance_pk AND d2.model = "
          "l.model AND d2.version = l.version) GROUP BY l.model, l.version");
      if (!calls.ok())
        return calls.error();
      calls->Bind(1, from_ms).Bind(2, to_ms);
      DXHUB_TRY(ForEachRow(*calls, [&](const Stmt& s) {
        ModelReviewStats& m = by_model[{s.Text(0), s.Text(1)}];
        m.model = s.Text(0);
        m.version = s.Text(1);
        m.images = s.Int(2);
        m.high_risk = s.Int(3);
        m.confirmed = s.Int(4);
        m.rejected = s.Int(5);
        m.undecided = m.high_risk - m.confirmed - m.rejected;
        m.studies = s.Int(6);
      }));
      auto turnaround = Stmt::Prepare(
          db,
          "SELECT j.model, j.version, s.received_at, MAX(COALESCE(j.finished_at, 0)), "
          "SUM(j.state IN ('pending', 'running')), COALESCE(s.viewed_at, 0), CASE WHEN r.status "
          "IN ('confirmed', 'rejected') THEN COALESCE(s.confirmed_at, 0) ELSE 0 END FROM ai_jobs "
          "j JOIN studies s ON s.id = j.study_pk LEFT JOIN study_review r ON r.study_pk = s.id "
          "WHERE s.received_at >= ?1 AND s.received_at < ?2 GROUP BY j.model, j.version, s.id");
      if (!turnaround.ok())
        return turnaround.error();
      turnaround->Bind(1, from_ms).Bind(2, to_ms);
      return ForEachRow(*turnaround, [&](const Stmt& s) {
        Times& t = times[{s.Text(0), s.Text(1)}];
        const auto seconds = [](int64_t from, int64_t to) {
          return static_cast<double>(to - from) / 1000.0;
        };
        const int64_t received = s.Int(2);
        const int64_t ai = s.Int(4) == 0 ? s.Int(3) : 0;
        const int64_t viewed = s.Int(5);
        const int64_t reviewed = s.Int(6);
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
  static Result<std::vector<Finding>> HighRiskFindings(const Db& db, int64_t study_pk) {
    auto stmt = Stmt::Prepare(
        db,
        "SELECT j.instance_pk, r.id, j.model, j.version, EXISTS (SELECT 1 FROM decisions d WHERE "
        "d.instance_pk = j.instance_pk) FROM ai_jobs j JOIN ai_results r ON r.job_pk = j.id "
        "WHERE j.study_pk = ?1 AND r.high_risk = 1 AND j.id = (SELECT MAX(j2.id) FROM ai_jobs j2 "
        "WHERE j2.instance_pk = j.instance_pk AND j2.model = j.model) ORDER BY j.instance_pk, "
        "r.risk_score DESC");
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind(1, study_pk);
    std::vector<Finding> out;
    DXHUB_TRY(ForEachRow(*stmt, [&](const Stmt& s) {
      if (!out.empty() && out.back().instance_pk == s.Int(0))
        return;  // a second model's finding on the same image: the riskiest is decided on
      out.push_back({s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Int(4) != 0});
    }));
    return out;
  }

  static Result<std::optional<int64_t>> Lookup(const Db& db, const std::string& sql,
                                               const std::string& key) {
    auto stmt = Stmt::Prepare(db, sql);
    if (!stmt.ok())
      return stmt.error();
    stmt->Bind(1, key);
    std::optional<int64_t> id;
    DXHUB_TRY(ForEachRow(*stmt, [&](const Stmt& s) { id = s.Int(0); }));
    return id;
  }

  Status FillSummaries(std::vector<WorklistRow>& rows) {
    std::vector<std::string> uids;
    uids.reserve(rows.size());
    for (const auto& row : rows)
      uids.push_back(row.study_uid);
    auto summaries = ai_.StudySummaries(uids);
    if (!summaries.ok())
      return summaries.error();
    std::map<std::string, StudyAiSummary> by_uid(summaries->begin(), summaries->end());
    for (auto& row : rows)
      row.ai = by_uid[row.study_uid];
    return Ok();
  }

  sqlite::Access& db_;
  AiStore& ai_;
};

}  // namespace

Result<std::string> RefreshStudyReview(const sqlite::Db& db, int64_t study_pk, int64_t now_ms) {
  // Latest reading of each (image, model), folded per image the way the AI summary folds it:
  // pending beats high-risk beats failed.
  auto readings = Stmt::Prepare(
      db,
      "SELECT j.instance_pk, j.state, COALESCE(r.status, ''), COALESCE(r.high_risk, 0), "
      "COALESCE(r.risk_score, 0), COALESCE(r.label, '') FROM ai_jobs j LEFT JOIN ai_results r ON "
      "r.job_pk = j.id WHERE j.study_pk = ?1 AND j.id = (SELECT MAX(j2.id) FROM ai_jobs j2 WHERE "
      "j2.instance_pk = j.instance_pk AND j2.model = j.model)");
  if (!readings.ok())
    return readings.error();
  readings->Bind(1, study_pk);
  struct Image {
    bool pending = false, high_risk = false, failed = false;
  };
  std::map<int64_t, Image> images;
  double highest = 0;
  std::string label;
  DXHUB_TRY(ForEachRow(*readings, [&](const Stmt& s) {
    Image& image = images[s.Int(0)];
    const std::string state = s.Text(1);
    if (state == "pending" || state == "running") {
      image.pending = true;
    } else if (s.Text(2) == "failed") {
      image.failed = true;
    } else if (s.Int(3) != 0) {
      image.high_risk = true;
      if (s.Double(4) >= highest) {
        highest = s.Double(4);
        label = s.Text(5);
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
  auto decisions = Stmt::Prepare(
      db,
      "SELECT d.instance_pk, d.verdict, d.username FROM decisions d WHERE d.study_pk = ?1 AND "
      "d.instance_pk IS NOT NULL AND d.id = (SELECT MAX(d2.id) FROM decisions d2 WHERE "
      "d2.instance_pk = d.instance_pk) ORDER BY d.id");
  if (!decisions.ok())
    return decisions.error();
  decisions->Bind(1, study_pk);
  int decided = 0;
  bool any_confirmed = false;
  std::string reviewed_by;
  DXHUB_TRY(ForEachRow(*decisions, [&](const Stmt& s) {
    if (high_risk.count(s.Int(0)) == 0)
      return;  // decided on a reading that is no longer high-risk (rerun)
    ++decided;
    any_confirmed = any_confirmed || s.Text(1) == "confirm";
    reviewed_by = s.Text(2);
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
  auto upsert = Stmt::Prepare(
      db,
      "INSERT INTO study_review(study_pk, high_risk, failed, highest_risk, label, status, "
      "reviewed_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(study_pk) DO "
      "UPDATE SET high_risk = excluded.high_risk, failed = excluded.failed, highest_risk = "
      "excluded.highest_risk, label = excluded.label, status = excluded.status, reviewed_by = "
      "excluded.reviewed_by, updated_at = excluded.updated_at");
  if (!upsert.ok())
    return upsert.error();
  upsert->Bind(1, study_pk)
      .Bind(2, static_cast<int64_t>(high_risk.size()))
      .Bind(3, failed)
      .Bind(4, highest)
      .Bind(5, label)
      .Bind(6, status)
      .Bind(7, reviewed_by)
      .Bind(8, now_ms);
  DXHUB_TRY(upsert->Run());
  if (status == "confirmed" || status == "rejected") {
    // The first time the study's findings were all decided: turnaround "confirmed".
    auto stamp = Stmt::Prepare(
        db, "UPDATE studies SET confirmed_at = ?2 WHERE id = ?1 AND confirmed_at IS NULL");
    if (!stamp.ok())
      return stamp.error();
    stamp->Bind(1, study_pk).Bind(2, now_ms);
    DXHUB_TRY(stamp->Run());
  }
  return status;
}

std::unique_ptr<ReviewStore> MakeSqliteReviewStore(sqlite::Access& db, AiStore& ai) {
  return std::make_unique<SqliteReviewStore>(db, ai);
}

}  // namespace dxhub::store
