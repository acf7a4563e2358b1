// AiStore written once over sql::Database. Claims carry this node's name and a lease: on
// PostgreSQL several nodes claim from one queue, skipping rows another node is claiming, and
// only the node that holds a job's claim can complete it.

#include "store/sql_ai_store.h"

#include <algorithm>
#include <map>
#include <set>

#include "store/sql_review_store.h"
#include "store/sql_scope.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

// The latest job of each (image, model) of one study, joined with its result and image.
constexpr const char* kLatestJobs =
    "SELECT i.sop_uid AS sop_uid, se.series_uid AS series_uid, "
    "i.instance_number AS instance_number, j.model AS model, j.version AS version, "
    "j.state AS state, COALESCE(r.status, '') AS status, COALESCE(r.label, '') AS label, "
    "COALESCE(r.score, 0) AS score, COALESCE(r.risk_score, 0) AS risk_score, "
    "COALESCE(r.high_risk, 0) AS high_risk, COALESCE(r.reason, '') AS reason, "
    "j.attempts AS attempts, COALESCE(r.preprocess_ms, 0) AS preprocess_ms, "
    "COALESCE(r.inference_ms, 0) AS inference_ms, j.created_at AS created_at, "
    "COALESCE(j.finished_at, 0) AS finished_at "
    "FROM ai_jobs j JOIN instances i ON i.id = j.instance_pk "
    "JOIN series se ON se.id = i.series_pk LEFT JOIN ai_results r ON r.job_pk = j.id ";

constexpr const char* kInsertJob =
    "INSERT INTO ai_jobs(instance_pk, study_pk, model, version, state, created_at) "
    "VALUES (:instance_pk, :study_pk, :model, :version, 'pending', :now)";

constexpr const char* kInsertResult =
    "INSERT INTO ai_results(job_pk, status, label, score, risk_score, high_risk, reason, frames, "
    "preprocess_ms, inference_ms, created_at) VALUES (:job, :status, :label, :score, :risk, "
    ":high_risk, :reason, :frames, :preprocess_ms, :inference_ms, :now)";

ImageAiResult ReadImageResult(const Stmt& st) {
  ImageAiResult r;
  r.sop_uid = st.Text("sop_uid");
  r.series_uid = st.Text("series_uid");
  r.instance_number = static_cast<int>(st.Int("instance_number"));
  r.spec = {st.Text("model"), st.Text("version")};
  const std::string state = st.Text("state");
  const std::string status = st.Text("status");
  r.state = state == "done" ? status : state;  // analysed / failed / pending / running
  r.label = st.Text("label");
  r.score = st.Double("score");
  r.risk_score = st.Double("risk_score");
  r.high_risk = st.Int("high_risk") != 0;
  r.reason = st.Text("reason");
  r.attempts = static_cast<int>(st.Int("attempts"));
  r.preprocess_ms = st.Double("preprocess_ms");
  r.inference_ms = st.Double("inference_ms");
  r.queued_ms = st.Int("created_at");
  r.finished_ms = st.Int("finished_at");
  return r;
}

class SqlAiStore final : public AiStore {
 public:
  SqlAiStore(sql::Database& db, JobLease lease) : db_(db), lease_(std::move(lease)) {
    claim_ =
        "UPDATE ai_jobs SET state = 'running', attempts = attempts + 1, claimed_at = :now, "
        "claimed_by = :node, lease_until = :lease_until WHERE id IN (SELECT id FROM ai_jobs "
        "WHERE state = 'pending' ORDER BY id LIMIT :max " +
        std::string(db.dialect().SkipLocked()) + ") RETURNING id";
  }

  Result<std::vector<AiJob>> ClaimJobs(int max, int64_t now_ms) override {
    std::vector<AiJob> jobs;
    auto waiting = AnyPending(db_, "ai_jobs");
    if (!waiting.ok())
      return waiting.error();
    if (!*waiting)
      return jobs;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      jobs.clear();
      auto claim = tx.Prepare(claim_);
      if (!claim.ok())
        return claim.error();
      claim->Bind("now", now_ms)
          .Bind("node", lease_.node)
          .Bind("lease_until", now_ms + lease_.lease_ms)
          .Bind("max", max);
      std::vector<int64_t> ids;
      DXHUB_TRY(claim->ForEach([&](const Stmt& s) { ids.push_back(s.Int("id")); }));
      std::sort(ids.begin(), ids.end());
      auto detail = tx.Prepare(
          "SELECT j.id AS id, j.model AS model, j.version AS version, j.attempts AS attempts, "
          "i.sop_uid AS sop_uid, s.study_uid AS study_uid, i.blob_key AS blob_key, "
          "i.frames AS frames, i.received_at AS received_at FROM ai_jobs j "
          "JOIN instances i ON i.id = j.instance_pk JOIN studies s ON s.id = j.study_pk "
          "WHERE j.id = :id");
      if (!detail.ok())
        return detail.error();
      for (int64_t id : ids) {
        detail->Bind("id", id);
        DXHUB_TRY(detail->ForEach([&](const Stmt& s) {
          AiJob job;
          job.id = s.Int("id");
          job.spec = {s.Text("model"), s.Text("version")};
          job.attempts = static_cast<int>(s.Int("attempts"));
          job.sop_uid = s.Text("sop_uid");
          job.study_uid = s.Text("study_uid");
          job.blob_key = s.Text("blob_key");
          job.frames = static_cast<int>(s.Int("frames"));
          job.received_ms = s.Int("received_at");
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
    Status st = db_.Write([&](Transaction& tx) -> Status {
      recorded = 0;
      // Only the claim this node holds: a job whose lease ran out and that another node took
      // over is that node's to complete, so each job gets one result.
      auto update = tx.Prepare(
          "UPDATE ai_jobs SET state = :state, finished_at = CASE WHEN :retry = 1 THEN NULL "
          "ELSE CAST(:now AS BIGINT) END, attempts = attempts - :not_ready, claimed_by = CASE WHEN "
          ":retry = 1 "
          "THEN NULL ELSE claimed_by END WHERE id = :id AND state = 'running' AND "
          "claimed_by = :node RETURNING study_pk");
      auto insert = tx.Prepare(kInsertResult);
      if (!update.ok())
        return update.error();
      if (!insert.ok())
        return insert.error();
      // Per study: whether a recorded result can change its worklist row by itself (a finding or
      // a failure).
      std::map<int64_t, bool> studies;
      for (const auto& [id, o] : jobs) {
        const bool retry = !o.analysed && o.retry;
        update->Bind("id", id)
            .Bind("state", retry ? "pending" : (o.analysed ? "done" : "failed"))
            .Bind("retry", retry ? 1 : 0)
            .Bind("now", now_ms)
            .Bind("not_ready", retry && o.not_ready ? 1 : 0)
            .Bind("node", lease_.node);
        int64_t study_pk = 0;
        DXHUB_TRY(update->ForEach([&](const Stmt& row) { study_pk = row.Int("study_pk"); }));
        update->Reset();
        if (study_pk == 0 || retry)
          continue;  // already completed by someone else, or back in the queue
        studies[study_pk] = studies[study_pk] || o.high_risk || !o.analysed;
        insert->Bind("job", id)
            .Bind("status", o.analysed ? "analysed" : "failed")
            .Bind("label", o.label)
            .Bind("score", o.score)
            .Bind("risk", o.risk_score)
            .Bind("high_risk", o.high_risk ? 1 : 0)
            .Bind("reason", o.reason)
            .Bind("frames", o.frames)
            .Bind("preprocess_ms", o.preprocess_ms)
            .Bind("inference_ms", o.inference_ms)
            .Bind("now", now_ms);
        Status run = insert->Run();
        insert->Reset();
        DXHUB_TRY(run);
        ++recorded;
      }
      // The refresh folds every reading of the study, on the writer that ingest shares: a batch
      // of normal readings of a study with no finding or failure on record (the common case)
      // cannot change its row and skips it.
      auto flagged = tx.Prepare(
          "SELECT 1 AS flagged FROM study_review WHERE study_pk = :study AND "
          "high_risk + failed > 0");
      if (!flagged.ok())
        return flagged.error();
      std::set<int64_t> refresh;
      for (const auto& [study_pk, notable] : studies) {
        bool needed = notable;
        if (!needed) {
          flagged->Bind("study", study_pk);
          DXHUB_TRY(flagged->ForEach([&](const Stmt&) { needed = true; }));
          flagged->Reset();
        }
        if (needed)
          refresh.insert(study_pk);
      }
      return RefreshReviews(tx, refresh, now_ms);
    });
    if (!st.ok())
      return st.error();
    return recorded;
  }

  Result<int> RecoverInterrupted(int max_attempts, int64_t now_ms) override {
    // This node's own claims (a previous process under the same name), claims from before
    // leases existed, and any whose lease ran out.
    return Requeue("(claimed_by IS NULL OR claimed_by = :node OR lease_until < :now)", max_attempts,
                   now_ms);
  }

  Result<int> TakeOverExpired(int max_attempts, int64_t now_ms) override {
    // Every node asks every second; the answer is almost always no, and a read says so without
    // a write transaction.
    auto expired = AnyExpired(db_, "ai_jobs", now_ms);
    if (!expired.ok())
      return expired.error();
    if (!*expired)
      return 0;
    return Requeue("lease_until < :now", max_attempts, now_ms);
  }

  Result<int> FailStaleJobs(int64_t timeout_ms, int64_t now_ms) override {
    int failed = 0;
    const std::string reason =
        "timeout: no result after " + std::to_string(timeout_ms / 1000) + " s";
    Status st = db_.Write([&](Transaction& tx) -> Status {
      failed = 0;
      auto n = FailRunning(tx, "claimed_at < :before", {{"before", now_ms - timeout_ms}}, now_ms,
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
    Status st = db_.Write([&](Transaction& tx) -> Status {
      queued = 0;
      auto images = tx.Prepare(
          "SELECT i.id AS id, s.id AS study, se.modality AS modality, "
          "i.sop_class_uid AS sop_class_uid, se.body_part AS body_part FROM instances i "
          "JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk "
          "WHERE s.study_uid = :uid AND i.frames > 0 ORDER BY i.id");
      if (!images.ok())
        return images.error();
      images->Bind("uid", study_uid);
      struct Image {
        int64_t id, study;
        std::string modality, sop_class, body_part;
      };
      std::vector<Image> list;
      DXHUB_TRY(images->ForEach([&](const Stmt& s) {
        list.push_back({s.Int("id"), s.Int("study"), s.Text("modality"), s.Text("sop_class_uid"),
                        s.Text("body_part")});
      }));
      for (const auto& image : list) {
        const auto specs = specs_for(image.modality, image.sop_class, image.body_part);
        DXHUB_TRY(EnqueueAiJobs(tx, image.id, image.study, specs, now_ms));
        queued += static_cast<int>(specs.size());
      }
      std::set<int64_t> studies;
      for (const auto& image : list)
        studies.insert(image.study);
      return RefreshReviews(tx, studies, now_ms);
    });
    if (!st.ok())
      return st.error();
    return queued;
  }

  Result<std::vector<ImageAiResult>> StudyResults(const Scope& scope,
                                                  const std::string& study_uid) override {
    std::vector<ImageAiResult> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt =
          tx.Prepare(std::string(kLatestJobs) +
                         "WHERE j.study_pk = (SELECT s.id FROM studies s WHERE s.study_uid = :uid" +
                         ScopeSqlCondition(scope, "s") +
                         ") AND j.id = (SELECT MAX(j2.id) FROM ai_jobs j2 WHERE j2.instance_pk = "
                         "j.instance_pk AND j2.model = j.model) ORDER BY se.series_number, se.id, "
                         "i.instance_number, i.id, j.model",
                     /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("uid", study_uid);
      return stmt->ForEach([&](const Stmt& s) { out.push_back(ReadImageResult(s)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::vector<ImageAiResult>> ImageHistory(const Scope& scope,
                                                  const std::string& sop_uid) override {
    std::vector<ImageAiResult> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare(std::string(kLatestJobs) +
                                 "WHERE i.sop_uid = :uid AND EXISTS (SELECT 1 FROM studies s "
                                 "WHERE s.id = j.study_pk" +
                                 ScopeSqlCondition(scope, "s") + ") ORDER BY j.id DESC",
                             /*cache=*/scope.everything());
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("uid", sop_uid);
      return stmt->ForEach([&](const Stmt& s) { out.push_back(ReadImageResult(s)); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<int64_t> PendingJobs(const std::string& study_uid) override {
    int64_t pending = 0;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      auto stmt = tx.Prepare(
          "SELECT COUNT(*) AS n FROM ai_jobs WHERE study_pk = (SELECT id FROM studies WHERE "
          "study_uid = :uid) AND state IN ('pending', 'running')");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("uid", study_uid);
      return stmt->ForEach([&](const Stmt& s) { pending = s.Int("n"); });
    });
    if (!st.ok())
      return st.error();
    return pending;
  }

  Result<std::optional<StudyAiSummary>> StudySummary(const Scope& scope,
                                                     const std::string& study_uid) override {
    auto many = StudySummaries(scope, {study_uid});
    if (!many.ok())
      return many.error();
    if (many->empty())
      return std::optional<StudyAiSummary>();
    return std::optional<StudyAiSummary>(std::move(many->front().second));
  }

  Result<std::vector<std::pair<std::string, StudyAiSummary>>> StudySummaries(
      const Scope& scope, const std::vector<std::string>& study_uids) override {
    std::vector<std::pair<std::string, StudyAiSummary>> out;
    for (const auto& uid : study_uids) {
      StudyAiSummary s;
      bool found = false;
      Status st = db_.Read([&](Transaction& tx) -> Status {
        auto study = tx.Prepare(
            // Reports (SR, their PDF), key objects and presentation states are not images.
            "SELECT s.num_instances - (SELECT COALESCE(SUM(m.num_instances), 0) FROM series m "
            "WHERE m.study_pk = s.id AND m.modality IN ('SR', 'DOC', 'KO', 'PR')) AS "
            "num_instances, s.received_at AS received_at, "
            "COALESCE(s.stable_at, 0) AS stable_at, (SELECT COALESCE(MIN(created_at), 0) FROM "
            "ai_jobs WHERE study_pk = s.id) AS queued_at FROM studies s WHERE s.study_uid = :uid" +
                ScopeSqlCondition(scope, "s"),
            /*cache=*/scope.everything());
        if (!study.ok())
          return study.error();
        study->Bind("uid", uid);
        DXHUB_TRY(study->ForEach([&](const Stmt& r) {
          found = true;
          s.total = static_cast<int>(r.Int("num_instances"));
          s.received_ms = r.Int("received_at");
          s.stable_ms = r.Int("stable_at");
          s.queued_ms = r.Int("queued_at");
        }));
        return Ok();
      });
      if (!st.ok())
        return st.error();
      if (!found)
        continue;
      auto images = StudyResults(scope, uid);
      if (!images.ok())
        return images.error();
      Summarise(*images, s);
      out.emplace_back(uid, s);
    }
    return out;
  }

  Result<std::vector<std::string>> MarkStable(int64_t quiet_ms, int64_t now_ms) override {
    // In the database, not per node: a study that arrived through several nodes becomes stable
    // once, reported to whichever node's sweep marks it.
    std::vector<std::string> uids;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      uids.clear();
      auto stmt = tx.Prepare(
          "UPDATE studies SET stable_at = :now WHERE stable_at IS NULL AND updated_at <= "
          ":quiet_since RETURNING study_uid");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("now", now_ms).Bind("quiet_since", now_ms - quiet_ms);
      return stmt->ForEach([&](const Stmt& s) { uids.push_back(s.Text("study_uid")); });
    });
    if (!st.ok())
      return st.error();
    return uids;
  }

  Result<std::set<std::string>> DisabledModels() override {
    std::set<std::string> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto stmt = tx.Prepare("SELECT model_id FROM ai_models_disabled");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& s) { out.insert(s.Text("model_id")); });
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status SetModelEnabled(const std::string& model_id, bool enabled, int64_t now_ms) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto stmt =
          tx.Prepare(enabled ? "DELETE FROM ai_models_disabled WHERE model_id = :model"
                             : "INSERT INTO ai_models_disabled(model_id, disabled_at) VALUES "
                               "(:model, :now) ON CONFLICT(model_id) DO NOTHING");
      if (!stmt.ok())
        return stmt.error();
      stmt->Bind("model", model_id);
      if (!enabled)
        stmt->Bind("now", now_ms);
      return stmt->Run();
    });
  }

  Result<QueueCounts> Counts() override {
    QueueCounts counts;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      counts = {};
      auto stmt = tx.Prepare("SELECT state, COUNT(*) AS n FROM ai_jobs GROUP BY state");
      if (!stmt.ok())
        return stmt.error();
      return stmt->ForEach([&](const Stmt& s) {
        const std::string state = s.Text("state");
        const int64_t n = s.Int("n");
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
  using Params = std::vector<std::pair<std::string, int64_t>>;

  // Running jobs matching `condition` go back to pending, or fail once they have used
  // `max_attempts` (a model that kills its node must not take the cluster down node by node).
  // Row locks make a requeue happen once however many nodes run it at the same moment.
  Result<int> Requeue(const std::string& condition, int max_attempts, int64_t now_ms) {
    int requeued = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      requeued = 0;
      const Params params = {{"now", now_ms}, {"max", max_attempts}};
      DXHUB_TRY(
          FailRunning(tx, condition + " AND attempts >= :max", params, now_ms, [](const Stmt& s) {
            return "interrupted: its node stopped while running it, " +
                   std::to_string(s.Int("attempts")) + " times";
          }));
      auto requeue = tx.Prepare(
          "UPDATE ai_jobs SET state = 'pending', claimed_by = NULL, lease_until = NULL WHERE "
          "state = 'running' AND " +
          condition + " RETURNING id");
      if (!requeue.ok())
        return requeue.error();
      requeue->Bind("now", now_ms);
      if (condition.find(":node") != std::string::npos)
        requeue->Bind("node", lease_.node);
      return requeue->ForEach([&](const Stmt&) { ++requeued; });
    });
    if (!st.ok())
      return st.error();
    return requeued;
  }

  // Fails the running jobs matching `condition` (on `params`; `:node` is this node) and records
  // a failed result for each with the reason `reason_of` gives it. Inside a write.
  template <typename Reason>
  Result<int> FailRunning(Transaction& tx, const std::string& condition, const Params& params,
                          int64_t now_ms, Reason&& reason_of) {
    auto fail = tx.Prepare(
        "UPDATE ai_jobs SET state = 'failed', finished_at = :finished WHERE state = 'running' "
        "AND " +
        condition + " RETURNING id, attempts, study_pk");
    if (!fail.ok())
      return fail.error();
    fail->Bind("finished", now_ms);
    for (const auto& [name, value] : params)
      fail->Bind(name, value);
    if (condition.find(":node") != std::string::npos)
      fail->Bind("node", lease_.node);
    std::vector<std::pair<int64_t, std::string>> failed;
    std::set<int64_t> studies;
    DXHUB_TRY(fail->ForEach([&](const Stmt& s) {
      failed.emplace_back(s.Int("id"), reason_of(s));
      studies.insert(s.Int("study_pk"));
    }));
    auto insert = tx.Prepare(kInsertResult);
    if (!insert.ok())
      return insert.error();
    for (const auto& [id, reason] : failed) {
      insert->Bind("job", id)
          .Bind("status", "failed")
          .Bind("label", "")
          .Bind("score", 0.0)
          .Bind("risk", 0.0)
          .Bind("high_risk", 0)
          .Bind("reason", reason)
          .Bind("frames", 0)
          .Bind("preprocess_ms", 0.0)
          .Bind("inference_ms", 0.0)
          .Bind("now", now_ms);
      Status run = insert->Run();
      insert->Reset();
      DXHUB_TRY(run);
    }
    DXHUB_TRY(RefreshReviews(tx, studies, now_ms));
    return static_cast<int>(failed.size());
  }

  // Keeps the worklist's per-study rows in step with results written in this transaction.
  static Status RefreshReviews(Transaction& tx, const std::set<int64_t>& studies, int64_t now_ms) {
    for (int64_t study_pk : studies) {
      auto status = RefreshStudyReview(tx, study_pk, now_ms);
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

  sql::Database& db_;
  const JobLease lease_;
  std::string claim_;
};

}  // namespace

Status EnqueueAiJobs(Transaction& tx, int64_t instance_pk, int64_t study_pk,
                     const std::vector<AiJobSpec>& specs, int64_t now_ms) {
  if (specs.empty())
    return Ok();
  auto insert = tx.Prepare(kInsertJob);
  if (!insert.ok())
    return insert.error();
  for (const auto& spec : specs) {
    insert->Bind("instance_pk", instance_pk)
        .Bind("study_pk", study_pk)
        .Bind("model", spec.model)
        .Bind("version", spec.version)
        .Bind("now", now_ms);
    Status run = insert->Run();
    insert->Reset();
    DXHUB_TRY(run);
  }
  return Ok();
}

std::unique_ptr<AiStore> MakeSqlAiStore(sql::Database& db, JobLease lease) {
  return std::make_unique<SqlAiStore>(db, std::move(lease));
}

}  // namespace dxhub::store
