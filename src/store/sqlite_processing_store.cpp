#include "store/sqlite_processing_store.h"

namespace dxhub::store {
namespace {

using sqlite::Db;
using sqlite::ForEachRow;
using sqlite::Stmt;

constexpr const char* kJobSelect =
    "SELECT j.id, se.series_uid, st.study_uid, j.operation, j.params, j.state, j.progress, "
    "j.stage, j.attempts, j.requested_by, j.error, j.result, j.created_at, "
    "COALESCE(j.started_at, 0), COALESCE(j.finished_at, 0) FROM processing_jobs j "
    "JOIN series se ON se.id = j.series_pk JOIN studies st ON st.id = se.study_pk ";

ProcessingJob ReadJob(const Stmt& s) {
  ProcessingJob j;
  j.id = s.Int(0);
  j.series_uid = s.Text(1);
  j.study_uid = s.Text(2);
  j.operation = s.Text(3);
  j.params_json = s.Text(4);
  j.state = s.Text(5);
  j.progress = s.Double(6);
  j.stage = s.Text(7);
  j.attempts = static_cast<int>(s.Int(8));
  j.requested_by = s.Text(9);
  j.error = s.Text(10);
  j.result_json = s.Text(11);
  j.created_ms = s.Int(12);
  j.started_ms = s.Int(13);
  j.finished_ms = s.Int(14);
  return j;
}

class SqliteProcessingStore final : public ProcessingStore {
 public:
  explicit SqliteProcessingStore(sqlite::Access& db) : db_(db) {}

  Result<int64_t> Enqueue(const ProcessingRequest& r, int64_t now_ms) override {
    int64_t id = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      auto insert = Stmt::Prepare(
          db,
          "INSERT INTO processing_jobs(series_pk, operation, params, state, requested_by, "
          "created_at) SELECT id, ?2, ?3, 'pending', ?4, ?5 FROM series WHERE series_uid = ?1 "
          "RETURNING id");
      if (!insert.ok())
        return insert.error();
      insert->Bind(1, r.series_uid)
          .Bind(2, r.operation)
          .Bind(3, r.params_json)
          .Bind(4, r.requested_by)
          .Bind(5, now_ms);
      id = 0;
      DXHUB_TRY(ForEachRow(*insert, [&](const Stmt& s) { id = s.Int(0); }));
      if (id == 0)
        return MakeError(ErrorCode::kNotFound, "no series " + r.series_uid);
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return id;
  }

  Result<std::optional<ProcessingJob>> Claim(int64_t now_ms) override {
    int64_t id = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      auto claim = Stmt::Prepare(
          db,
          "UPDATE processing_jobs SET state = 'running', attempts = attempts + 1, "
          "started_at = ?1, progress = 0, stage = 'starting' WHERE id = (SELECT id FROM "
          "processing_jobs WHERE state = 'pending' ORDER BY id LIMIT 1) RETURNING id");
      if (!claim.ok())
        return claim.error();
      claim->Bind(1, now_ms);
      id = 0;
      return ForEachRow(*claim, [&](const Stmt& s) { id = s.Int(0); });
    });
    if (!st.ok())
      return st.error();
    if (id == 0)
      return std::optional<ProcessingJob>();
    return Find(id);
  }

  Status Progress(int64_t id, double progress, const std::string& stage) override {
    return db_.Write([&](const Db& db) -> Status {
      auto update = Stmt::Prepare(db,
                                  "UPDATE processing_jobs SET progress = ?2, stage = ?3 "
                                  "WHERE id = ?1 AND state = 'running'");
      if (!update.ok())
        return update.error();
      update->Bind(1, id).Bind(2, progress).Bind(3, stage);
      return update->Run();
    });
  }

  Status Finish(int64_t id, bool done, const std::string& error, const std::string& result_json,
                int64_t now_ms) override {
    return db_.Write([&](const Db& db) -> Status {
      auto update = Stmt::Prepare(
          db,
          "UPDATE processing_jobs SET state = ?2, error = ?3, result = ?4, finished_at = ?5, "
          "progress = CASE WHEN ?2 = 'done' THEN 1 ELSE progress END, "
          "stage = CASE WHEN ?2 = 'done' THEN 'done' ELSE 'failed' END "
          "WHERE id = ?1 AND state = 'running'");
      if (!update.ok())
        return update.error();
      update->Bind(1, id)
          .Bind(2, done ? "done" : "failed")
          .Bind(3, error)
          .Bind(4, result_json)
          .Bind(5, now_ms);
      return update->Run();
    });
  }

  Result<int> RecoverInterrupted(int max_attempts, int64_t now_ms) override {
    int changed = 0;
    Status st = db_.Write([&](const Db& db) -> Status {
      auto fail = Stmt::Prepare(
          db,
          "UPDATE processing_jobs SET state = 'failed', finished_at = ?2, stage = 'failed', "
          "error = 'interrupted ' || attempts || ' times (the process stopped while it ran)' "
          "WHERE state = 'running' AND attempts >= ?1");
      auto retry = Stmt::Prepare(db,
                                 "UPDATE processing_jobs SET state = 'pending', progress = 0, "
                                 "stage = 'interrupted, queued again' WHERE state = 'running'");
      if (!fail.ok())
        return fail.error();
      if (!retry.ok())
        return retry.error();
      fail->Bind(1, max_attempts).Bind(2, now_ms);
      DXHUB_TRY(fail->Run());
      changed = sqlite3_changes(db.get());
      DXHUB_TRY(retry->Run());
      changed += sqlite3_changes(db.get());
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return changed;
  }

  Result<std::optional<ProcessingJob>> Find(int64_t id) override {
    std::optional<ProcessingJob> job;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto select = Stmt::Prepare(db, std::string(kJobSelect) + "WHERE j.id = ?1");
      if (!select.ok())
        return select.error();
      select->Bind(1, id);
      return ForEachRow(*select, [&](const Stmt& s) { job = ReadJob(s); });
    });
    if (!st.ok())
      return st.error();
    return job;
  }

  Result<std::vector<ProcessingJob>> ForSeries(const std::string& series_uid) override {
    std::vector<ProcessingJob> jobs;
    Status st = db_.Read([&](const Db& db) -> Status {
      auto select = Stmt::Prepare(
          db, std::string(kJobSelect) + "WHERE se.series_uid = ?1 ORDER BY j.id DESC LIMIT 200");
      if (!select.ok())
        return select.error();
      select->Bind(1, series_uid);
      return ForEachRow(*select, [&](const Stmt& s) { jobs.push_back(ReadJob(s)); });
    });
    if (!st.ok())
      return st.error();
    return jobs;
  }

 private:
  sqlite::Access& db_;
};

}  // namespace

std::unique_ptr<ProcessingStore> MakeSqliteProcessingStore(sqlite::Access& db) {
  return std::make_unique<SqliteProcessingStore>(db);
}

}  // namespace dxhub::store
