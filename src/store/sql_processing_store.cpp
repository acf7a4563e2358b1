// ProcessingStore written once over sql::Database. As with AI jobs, a claim carries this node's
// name and a lease; progress and the result of a job are accepted only from its claimer.

#include "store/sql_processing_store.h"

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

constexpr const char* kJobSelect =
    "SELECT j.id AS id, se.series_uid AS series_uid, st.study_uid AS study_uid, "
    "j.operation AS operation, j.params AS params, j.state AS state, j.progress AS progress, "
    "j.stage AS stage, j.attempts AS attempts, j.requested_by AS requested_by, j.error AS error, "
    "j.result AS result, j.created_at AS created_at, COALESCE(j.started_at, 0) AS started_at, "
    "COALESCE(j.finished_at, 0) AS finished_at FROM processing_jobs j "
    "JOIN series se ON se.id = j.series_pk JOIN studies st ON st.id = se.study_pk ";

ProcessingJob ReadJob(const Stmt& s) {
  ProcessingJob j;
  j.id = s.Int("id");
  j.series_uid = s.Text("series_uid");
  j.study_uid = s.Text("study_uid");
  j.operation = s.Text("operation");
  j.params_json = s.Text("params");
  j.state = s.Text("state");
  j.progress = s.Double("progress");
  j.stage = s.Text("stage");
  j.attempts = static_cast<int>(s.Int("attempts"));
  j.requested_by = s.Text("requested_by");
  j.error = s.Text("error");
  j.result_json = s.Text("result");
  j.created_ms = s.Int("created_at");
  j.started_ms = s.Int("started_at");
  j.finished_ms = s.Int("finished_at");
  return j;
}

class SqlProcessingStore final : public ProcessingStore {
 public:
  SqlProcessingStore(sql::Database& db, JobLease lease) : db_(db), lease_(std::move(lease)) {
    claim_ =
        "UPDATE processing_jobs SET state = 'running', attempts = attempts + 1, "
        "started_at = :now, progress = 0, stage = 'starting', claimed_by = :node, "
        "lease_until = :lease_until WHERE id = (SELECT id FROM processing_jobs WHERE "
        "state = 'pending' ORDER BY id LIMIT 1 " +
        std::string(db.dialect().SkipLocked()) + ") RETURNING id";
  }

  Result<int64_t> Enqueue(const ProcessingRequest& r, int64_t now_ms) override {
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      id = 0;
      auto insert = tx.Prepare(
          "INSERT INTO processing_jobs(series_pk, operation, params, state, requested_by, "
          "created_at) SELECT id, CAST(:operation AS TEXT), CAST(:params AS TEXT), 'pending', "
          "CAST(:requested_by AS TEXT), CAST(:now AS BIGINT) FROM series WHERE "
          "series_uid = :series_uid RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind("series_uid", r.series_uid)
          .Bind("operation", r.operation)
          .Bind("params", r.params_json)
          .Bind("requested_by", r.requested_by)
          .Bind("now", now_ms);
      DXHUB_TRY(insert->ForEach([&](const Stmt& s) { id = s.Int("id"); }));
      if (id == 0)
        return MakeError(ErrorCode::kNotFound, "no series " + r.series_uid);
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return id;
  }

  Result<std::optional<ProcessingJob>> Claim(int64_t now_ms) override {
    auto waiting = AnyPending(db_, "processing_jobs");
    if (!waiting.ok())
      return waiting.error();
    if (!*waiting)
      return std::optional<ProcessingJob>();
    int64_t id = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      id = 0;
      auto claim = tx.Prepare(claim_);
      if (!claim.ok())
        return claim.error();
      claim->Bind("now", now_ms)
          .Bind("node", lease_.node)
          .Bind("lease_until", now_ms + lease_.lease_ms);
      return claim->ForEach([&](const Stmt& s) { id = s.Int("id"); });
    });
    if (!st.ok())
      return st.error();
    if (id == 0)
      return std::optional<ProcessingJob>();
    return Find(id);
  }

  Status Progress(int64_t id, double progress, const std::string& stage) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto update = tx.Prepare(
          "UPDATE processing_jobs SET progress = :progress, stage = :stage WHERE id = :id AND "
          "state = 'running' AND claimed_by = :node");
      if (!update.ok())
        return update.error();
      update->Bind("id", id)
          .Bind("progress", progress)
          .Bind("stage", stage)
          .Bind("node", lease_.node);
      return update->Run();
    });
  }

  Status Finish(int64_t id, bool done, const std::string& error, const std::string& result_json,
                int64_t now_ms) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto update = tx.Prepare(
          "UPDATE processing_jobs SET state = :state, error = :error, result = :result, "
          "finished_at = :now, progress = CASE WHEN :done = 1 THEN 1 ELSE progress END, "
          "stage = :state WHERE id = :id AND state = 'running' AND claimed_by = :node");
      if (!update.ok())
        return update.error();
      update->Bind("id", id)
          .Bind("state", done ? "done" : "failed")
          .Bind("done", done ? 1 : 0)
          .Bind("error", error)
          .Bind("result", result_json)
          .Bind("now", now_ms)
          .Bind("node", lease_.node);
      return update->Run();
    });
  }

  Result<int> RecoverInterrupted(int max_attempts, int64_t now_ms) override {
    return Requeue("(claimed_by IS NULL OR claimed_by = :node OR lease_until < :now)", max_attempts,
                   now_ms);
  }

  Result<int> TakeOverExpired(int max_attempts, int64_t now_ms) override {
    auto expired = AnyExpired(db_, "processing_jobs", now_ms);
    if (!expired.ok())
      return expired.error();
    if (!*expired)
      return 0;
    return Requeue("lease_until < :now", max_attempts, now_ms);
  }

  Result<std::optional<ProcessingJob>> Find(int64_t id) override {
    std::optional<ProcessingJob> job;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      job.reset();
      auto select = tx.Prepare(std::string(kJobSelect) + "WHERE j.id = :id");
      if (!select.ok())
        return select.error();
      select->Bind("id", id);
      return select->ForEach([&](const Stmt& s) { job = ReadJob(s); });
    });
    if (!st.ok())
      return st.error();
    return job;
  }

  Result<std::vector<ProcessingJob>> ForSeries(const std::string& series_uid) override {
    std::vector<ProcessingJob> jobs;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      jobs.clear();
      auto select = tx.Prepare(std::string(kJobSelect) +
                               "WHERE se.series_uid = :uid ORDER BY j.id DESC LIMIT 200");
      if (!select.ok())
        return select.error();
      select->Bind("uid", series_uid);
      return select->ForEach([&](const Stmt& s) { jobs.push_back(ReadJob(s)); });
    });
    if (!st.ok())
      return st.error();
    return jobs;
  }

 private:
  // Running jobs matching `condition` go back to pending, or fail once they have had
  // `max_attempts` (an operation that kills its node must not loop forever). Row locks make
  // each requeue happen once however many nodes run it at the same moment.
  Result<int> Requeue(const std::string& condition, int max_attempts, int64_t now_ms) {
    int changed = 0;
    const bool mine = condition.find(":node") != std::string::npos;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      changed = 0;
      auto fail = tx.Prepare(
          "UPDATE processing_jobs SET state = 'failed', finished_at = :now, stage = 'failed', "
          "error = 'interrupted ' || attempts || ' times (its node stopped while it ran)' "
          "WHERE state = 'running' AND attempts >= :max AND " +
          condition);
      auto retry = tx.Prepare(
          "UPDATE processing_jobs SET state = 'pending', progress = 0, claimed_by = NULL, "
          "lease_until = NULL, stage = 'interrupted, queued again' WHERE state = 'running' "
          "AND " +
          condition);
      if (!fail.ok())
        return fail.error();
      if (!retry.ok())
        return retry.error();
      fail->Bind("max", max_attempts).Bind("now", now_ms);
      retry->Bind("now", now_ms);
      if (mine) {
        fail->Bind("node", lease_.node);
        retry->Bind("node", lease_.node);
      }
      DXHUB_TRY(fail->Run());
      changed = static_cast<int>(fail->Changes());
      DXHUB_TRY(retry->Run());
      changed += static_cast<int>(retry->Changes());
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return changed;
  }

  sql::Database& db_;
  const JobLease lease_;
  std::string claim_;
};

}  // namespace

std::unique_ptr<ProcessingStore> MakeSqlProcessingStore(sql::Database& db, JobLease lease) {
  return std::make_unique<SqlProcessingStore>(db, std::move(lease));
}

}  // namespace dxhub::store
