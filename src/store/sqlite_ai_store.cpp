#include "store/sqlite_ai_store.h"

#include <algorithm>
#include <map>
#include <set>

#include "store/sqlite_review_store.h"

namespace dxhub::store {
namespace {

using sqlite::Db;
using sqlite::ForEachRow;
using sqlite::Stmt;

// The latest job of each (image, model) of one study, joined with its result and image.
constexpr const char* kLatestJobs =
    "SELECT i.sop_uid, se.series_uid, i.instance_number, j.model, j.version, j.state, "
    "COALESCE(r.status, ''), COALESCE(r.label, ''), COALESCE(r.score, 0), "
    "COALESCE(r.risk_score, 0), COALESCE(r.high_risk, 0), COALESCE(r.reason, ''), j.attempts, "
    "COALESCE(r.preprocess_ms, 0), COALESCE(r.inference_ms, 0), j.created_at, "
    "COALESCE(j.finished_at, 0) "
    "FROM ai_jobs j JOIN instances i ON i.id = j.instance_pk "
    "JOIN series se ON se.id = i.series_pk LEFT JOIN ai_results r ON r.job_pk = j.id ";

ImageAiResult ReadImageResult(const Stmt& st) {
  ImageAiResult r;
  r.sop_uid = st.Text(0);
  r.series_uid = st.Text(1);
  r.instance_number = static_cast<int>(st.Int(2));
  r.spec = {st.Text(3), st.Text(4)};
  const std::string state = st.Text(5);
  const std::string status = st.Text(6);
  r.state = state == "done" ? status : state;  // analysed / failed / pending / running
  r.label = st.Text(7);
  r.score = st.Double(8);
  r.risk_score = st.Double(9);
  r.high_risk = st.Int(10) != 0;
  r.reason = st.Text(11);
  r.attempts = static_cast<int>(st.Int(12));
  r.preprocess_ms = st.Double(13);
  r.inference_ms = st.Double(14);
  r.queued_ms = st.Int(15);
  r.finished_ms = st.Int(16);
  return r;
}

class SqliteAiStore final : public AiStore {
 public:
  explicit SqliteAiStore(sqlite::Access& db) : db_(db) {}

  Result<std::vector<AiJob>> ClaimJobs(int max, int64_t now_ms) override {
    std::vector<AiJob> jobs;
    Status st = db_.Write([&](const Db& db) -> Status {
      jobs.clear();
      auto claim = Stmt::Prepare(db,
                                 "UPDATE ai_jobs SET state = 'running', attempts = attempts + 1, "
                                 "claimed_at = ?1 WHERE id IN (SELECT id FROM ai_jobs WHERE "
                                 "state = 'pending' ORDER BY id LIMIT ?2) RETURNING id");
      if (!claim.ok())
        return claim.error();
      claim->Bind(1, now_ms).Bind(2, max);
      std::vector<int64_t> ids;
      DXHUB_TRY(ForEachRow(*claim, [&](const Stmt& s) { ids.push_back(s.Int(0)); }));
      std::sort(ids.begin(), ids.end());
      auto detail = Stmt::Prepare(
          db,
          "SELECT j.id, j.model, j.version, j.attempts, i.sop_uid, s.study_uid, i.blob_key, "
          "i.frames, i.received_at FROM ai_jobs j JOIN instances i ON i.id = j.instance_pk "
          "JOIN studies s ON s.id = j.study_pk WHERE j.id = ?1");
      if (!detail.ok())
        return detail.error();
      for (int64_t id : ids) {
        detail->Bind(1, id);
        DXHUB_TRY(ForEachRow(*detail, [&](const Stmt& s) {
          AiJob job;
          job.id = s.Int(0);
          job.spec = {s.Text(1), s.Text(2)};
          job.attempts = static_cast<int>(s.Int(3));
          job.sop_uid = s.Text(4);
          job.study_uid = s.Text(5);
          job.blob_key = s.Text(6);
          job.frames = static_cast<int>(s.Int(7));
          job.received_ms = s.Int(8);
          jobs.push_back(std::move(job));
        }));
        detail->Reset();
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return jobs;
  }

  Result<int> CompleteJobs(const std::vector<Completed>& jobs, int64_t now_ms) override {
    int recorded = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      recorded = 0;
      auto update = Stmt::Prepare(db,
                                  "UPDATE ai_jobs SET state = ?2, finished_at = CASE WHEN ?2 = "
                                  "'pending' THEN NULL ELSE ?3 END, attempts = attempts - ?4 "
                                  "WHERE id = ?1 AND state = 'running' RETURNING study_pk");
      auto insert = Stmt::Prepare(
          db,
          "INSERT INTO ai_results(job_pk, status, label, score, risk_score, high_risk, reason, "
          "frames, preprocess_ms, inference_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "?8, ?9, ?10, ?11)");
      if (!update.ok())
        return update.error();
      if (!insert.ok())
        return insert.error();
      // Per study: whether a recorded result can change its worklist row by itself (a finding or
      // a failure).
      std::map<int64_t, bool> studies;
      for (const auto& [id, o] : jobs) {
        const bool retry = !o.analysed && o.retry;
        update->Bind(1, id)
            .Bind(2, retry ? "pending" : (o.analysed ? "done" : "failed"))
            .Bind(3, now_ms)
            .Bind(4, retry && o.not_ready ? 1 : 0);
        int64_t study_pk = 0;
        DXHUB_TRY(ForEachRow(*update, [&](const Stmt& row) { study_pk = row.Int(0); }));
        update->Reset();
        if (study_pk == 0 || retry)
          continue;  // already completed by someone else, or back in the queue
        studies[study_pk] = studies[study_pk] || o.high_risk || !o.analysed;
        insert->Bind(1, id)
            .Bind(2, o.analysed ? "analysed" : "failed")
            .Bind(3, o.label)
            .Bind(4, o.score)
            .Bind(5, o.risk_score)
            .Bind(6, o.high_risk ? 1 : 0)
            .Bind(7, o.reason)
            .Bind(8, o.frames)
            .Bind(9, o.preprocess_ms)
            .Bind(10, o.inference_ms)
            .Bind(11, now_ms);
        Status run = insert->Run();
        insert->Reset();
        DXHUB_TRY(run);
        ++recorded;
      }
      // The refresh folds every reading of the study, on the writer thread that ingest shares:
      // a batch of normal readings of a study with no finding or failure on record (the common
      // case) cannot change its row and skips it.
      std::set<int64_t> refresh;
      for (const auto& [study_pk, notable] : studies) {
        bool needed = notable;
        if (!needed) {
          auto flagged = Stmt::Prepare(
              db, "SELECT 1 FROM study_review WHERE study_pk = ?1 AND high_risk + failed > 0");
          if (!flagged.ok())
            return flagged.error();
          flagged->Bind(1, study_pk);
          DXHUB_TRY(ForEachRow(*flagged, [&](const Stmt&) { needed = true; }));
        }
        if (needed)
          refresh.insert(study_pk);
      }
      return RefreshReviews(db, refresh, now_ms);
    });
    if (!st.ok())
      return st.error();
    return recorded;
  }

  Result<int> RecoverInterrupted(int max_attempts, int64_t now_ms) override {
    int recovered = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      DXHUB_TRY(FailRunning(db, "attempts >= ?2", max_attempts, now_ms, [](const Stmt& s) {
        return "interrupted: dxhub stopped while running it, " + std::to_string(s.Int(1)) +
               " times";
      }));
      auto requeue = Stmt::Prepare(
          db, "UPDATE ai_jobs SET state = 'pending' WHERE state = 'running' RETURNING id");
      if (!requeue.ok())
        return requeue.error();
      recovered = 0;
      return ForEachRow(*requeue, [&](const Stmt&) { ++recovered; });
    });
    if (!st.ok())
      return st.error();
    return recovered;
  }

  Result<int> FailStaleJobs(int64_t timeout_ms, int64_t now_ms) override {
    int failed = 0;
    const std::string reason =
        "timeout: no result after " + std::to_string(timeout_ms / 1000) + " s";
    Status st = db_.Write([&](const Db& db) -> Status {
      auto n = FailRunning(db, "claimed_at < ?2", now_ms - timeout_ms, now_ms,
                           [&](const Stmt&) -> const std::string& { return reason; });
      if (!n.ok())
        return n.error();
      failed = *n;
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return failed;
  }

  Result<int> EnqueueStudy(
      const std::string& study_uid,
      const std::function<std::vector<AiJobSpec>(const std::string&, const std::string&,
                                                 const std::string&)>& specs_for,
      int64_t now_ms) override {
    int queued = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      queued = 0;
      auto images = Stmt::Prepare(
          db,
          "SELECT i.id, s.id, se.modality, i.sop_class_uid, se.body_part FROM instances i "
          "JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk "
          "WHERE s.study_uid = ?1 AND i.frames > 0 ORDER BY i.id");
      auto insert = Stmt::Prepare(db,
                                  "INSERT INTO ai_jobs(instance_pk, study_pk, model, version, "
                                  "state, created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)");
      if (!images.ok())
        return images.error();
      if (!insert.ok())
        return insert.error();
      images->Bind(1, study_uid);
      struct Image {
        int64_t id, study;
        std::string modality, sop_class, body_part;
      };
      std::vector<Image> list;
      DXHUB_TRY(ForEachRow(*images, [&](const Stmt& s) {
        list.push_back({s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4)});
      }));
      for (const auto& image : list) {
        for (const auto& spec : specs_for(image.modality, image.sop_class, image.body_part)) {
          insert->Bind(1, image.id)
              .Bind(2, image.study)
              .Bind(3, spec.model)
              .Bind(4, spec.version)
              .Bind(5, now_ms);
          Status run = insert->Run();
          insert->Reset();
          DXHUB_TRY(run);
          ++queued;
        }
      }
      std::set<int64_t> studies;
      for (const auto& image : list)
        studies.insert(image.study);
      return RefreshReviews(db, studies, now_ms);
    });
    if (!st.ok())
      return st.error();
    return queued;
  }

  Result<std::vector<ImageAiResult>> StudyResults(const std::string& study_uid) override {
    std::vector<ImageAiResult> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db, std::string(kLatestJobs) +
                  "WHERE j.study_pk = (SELECT id FROM studies WHERE study_uid = ?1) AND j.id = "
                  "(SELECT MAX(j2.id) FROM ai_jobs j2 WHERE j2.instance_pk = j.instance_pk AND "
                  "j2.model = j.model) ORDER BY se.series_number, se.id, i.instance_number, i.id, "
                  "j.model");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, study_uid);
      return ForEachRow(*stmt, [&](const Stmt& s) { out.push_back(ReadImageResult(s)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::vector<ImageAiResult>> ImageHistory(const std::string& sop_uid) override {
    std::vector<ImageAiResult> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt =
          Stmt::Prepare(db, std::string(kLatestJobs) + "WHERE i.sop_uid = ?1 ORDER BY j.id DESC");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, sop_uid);
      return ForEachRow(*stmt, [&](const Stmt& s) { out.push_back(ReadImageResult(s)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<int64_t> PendingJobs(const std::string& study_uid) override {
    int64_t pending = 0;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db,
                                "SELECT COUNT(*) FROM ai_jobs WHERE study_pk = (SELECT id FROM "
                                "studies WHERE study_uid = ?1) AND state IN ('pending', "
                                "'running')");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, study_uid);
      return ForEachRow(*stmt, [&](const Stmt& s) { pending = s.Int(0); });
    });
    if (!st.ok())
      return st.error();
    return pending;
  }

  Result<std::optional<StudyAiSummary>> StudySummary(const std::string& study_uid) override {
    auto many = StudySummaries({study_uid});
    if (!many.ok())
      return many.error();
    if (many->empty())
      return std::optional<StudyAiSummary>();
    return std::optional<StudyAiSummary>(std::move(many->front().second));
  }

  Result<std::vector<std::pair<std::string, StudyAiSummary>>> StudySummaries(
      const std::vector<std::string>& study_uids) override {
    std::vector<std::pair<std::string, StudyAiSummary>> out;
    for (const auto& uid : study_uids) {
      StudyAiSummary s;
      bool found = false;
      Status st = db_.Read([&](const Db& db) -> Status {
        auto study = Stmt::Prepare(
            db,
            "SELECT s.num_instances, s.received_at, COALESCE(s.stable_at, 0), "
            "(SELECT COALESCE(MIN(created_at), 0) FROM ai_jobs WHERE study_pk = s.id) "
            "FROM studies s WHERE s.study_uid = ?1");
        if (!study.ok())
          return study.error();
        study->Bind(1, uid);
        DXHUB_TRY(ForEachRow(*study, [&](const Stmt& r) {
          found = true;
          s.total = static_cast<int>(r.Int(0));
          s.received_ms = r.Int(1);
          s.stable_ms = r.Int(2);
          s.queued_ms = r.Int(3);
        }));
        return Ok();
      });
      if (!st.ok())
        return st.error();
      if (!found)
        continue;
      auto images = StudyResults(uid);
      if (!images.ok())
        return images.error();
      Summarise(*images, s);
      out.emplace_back(uid, s);
    }
    return out;
  }

  Result<std::vector<std::string>> MarkStable(int64_t quiet_ms, int64_t now_ms) override {
    std::vector<std::string> uids;
    Status st = db_.Write([&](const Db& db) -> Status {
      uids.clear();
      auto stmt = Stmt::Prepare(db,
                                "UPDATE studies SET stable_at = ?1 WHERE stable_at IS NULL AND "
                                "updated_at <= ?2 RETURNING study_uid");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, now_ms).Bind(2, now_ms - quiet_ms);
      return ForEachRow(*stmt, [&](const Stmt& s) { uids.push_back(s.Text(0)); });
    });
    if (!st.ok())
      return st.error();
    return uids;
  }

  Result<std::set<std::string>> DisabledModels() override {
    std::set<std::string> out;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db, "SELECT model_id FROM ai_models_disabled");
      if (!stmt.ok())
        return stmt.error();
      return ForEachRow(*stmt, [&](const Stmt& s) { out.insert(s.Text(0)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status SetModelEnabled(const std::string& model_id, bool enabled, int64_t now_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(
          db, enabled ? "DELETE FROM ai_models_disabled WHERE model_id = ?1"
                      : "INSERT INTO ai_models_disabled(model_id, disabled_at) VALUES (?1, ?2) "
                        "ON CONFLICT(model_id) DO NOTHING");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind(1, model_id);
      if (!enabled)
        stmt->Bind(2, now_ms);
      return stmt->Run();
    });
  }

  Result<QueueCounts> Counts() override {
    QueueCounts counts;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto stmt = Stmt::Prepare(db, "SELECT state, COUNT(*) FROM ai_jobs GROUP BY state");
      if (!stmt.ok())
        return stmt.error();
      return ForEachRow(*stmt, [&](const Stmt& s) {
        const std::string state = s.Text(0);
        const int64_t n = s.Int(1);
        if (state == "pending")
          counts.pending = n;
        else if (state == "running")
          counts.running = n;
        else if (state == "done")
          counts.done = n;
        else
          counts.failed = n;
      });
    });
    if (!st.ok())
      return st.error();
    return counts;
  }

 private:
  // Fails the running jobs matching `condition` (on ?2 = `value`; the row also has `attempts`)
  // and records a failed result for each with the reason `reason_of` gives it. Inside a write.
  template <typename Reason>
  static Result<int> FailRunning(const Db& db, const std::string& condition, int64_t value,
                                 int64_t now_ms, Reason&& reason_of) {
    auto fail = Stmt::Prepare(db,
                              "UPDATE ai_jobs SET state = 'failed', finished_at = ?1 WHERE "
                              "state = 'running' AND " +
                                  condition + " RETURNING id, attempts, study_pk");
    if (!fail.ok())
      return fail.error();
    fail->Bind(1, now_ms).Bind(2, value);
    std::vector<std::pair<int64_t, std::string>> failed;
    std::set<int64_t> studies;
    DXHUB_TRY(ForEachRow(*fail, [&](const Stmt& s) {
      failed.emplace_back(s.Int(0), reason_of(s));
      studies.insert(s.Int(2));
    }));
    auto insert = Stmt::Prepare(
        db,
        "INSERT INTO ai_results(job_pk, status, label, score, risk_score, high_risk, reason, "
        "frames, preprocess_ms, inference_ms, created_at) VALUES (?1, 'failed', '', 0, 0, 0, "
        "?2, 0, 0, 0, ?3)");
    if (!insert.ok())
      return insert.error();
    for (const auto& [id, reason] : failed) {
      insert->Bind(1, id).Bind(2, reason).Bind(3, now_ms);
      Status run = insert->Run();
      insert->Reset();
      DXHUB_TRY(run);
    }
    DXHUB_TRY(RefreshReviews(db, studies, now_ms));
    return static_cast<int>(failed.size());
  }

  // Keeps the worklist's per-study rows in step with results written in this transaction.
  static Status RefreshReviews(const Db& db, const std::set<int64_t>& studies, int64_t now_ms) {
    for (int64_t study_pk : studies) {
      auto status = RefreshStudyReview(db, study_pk, now_ms);
      if (!status.ok())
        return status.error();
    }
    return Ok();
  }

  // Folds the latest readings (one per image and model) into per-image states and counts.
  static void Summarise(const std::vector<ImageAiResult>& results, StudyAiSummary& s) {
    struct Image {
      bool pending = false, high_risk = false, failed = false;
    };
    std::map<std::string, Image> images;
    int64_t last_finished = 0;
    for (const auto& r : results) {
      Image& image = images[r.sop_uid];
      if (r.state == "pending" || r.state == "running") {
        image.pending = true;
      } else if (r.state == "failed") {
        image.failed = true;
      } else if (r.high_risk) {
        image.high_risk = true;
      }
      if (r.state == "analysed" && r.risk_score > s.highest_risk) {
        s.highest_risk = r.risk_score;
        s.highest_risk_label = r.high_risk ? r.label : "";
      }
      last_finished = std::max(last_finished, r.finished_ms);
    }
    for (const auto& [_, image] : images) {
      if (image.pending) {
        ++s.pending;
      } else if (image.high_risk) {
        ++s.high_risk;
      } else if (image.failed) {
        ++s.failed;
      } else {
        ++s.normal;
      }
    }
    s.analysed = s.normal + s.high_risk;
    s.inferred_ms = (s.pending == 0 && !images.empty()) ? last_finished : 0;
  }

  sqlite::Access& db_;
};

}  // namespace

std::unique_ptr<AiStore> MakeSqliteAiStore(sqlite::Access& db) {
  return std::make_unique<SqliteAiStore>(db);
}

}  // namespace dxhub::store
