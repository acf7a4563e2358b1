// ClusterStore written once over sql::Database.

#include "store/sql_cluster_store.h"

#include <map>

namespace dxhub::store {
namespace {

using sql::Stmt;
using sql::Transaction;

class SqlClusterStore final : public ClusterStore {
 public:
  explicit SqlClusterStore(sql::Database& db) : db_(db) {}

  Result<int64_t> Heartbeat(const NodeInfo& node, int64_t now_ms, int64_t lease_ms) override {
    int64_t renewed = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      renewed = 0;
      auto upsert = tx.Prepare(
          "INSERT INTO nodes(name, version, http_url, dicom_port, pid, started_at, heartbeat_at, "
          "load, ingested, taken_over) VALUES (:name, :version, :http_url, :dicom_port, :pid, "
          ":started_at, :now, :load, :ingested, :taken_over) ON CONFLICT(name) DO UPDATE SET "
          "version = excluded.version, http_url = excluded.http_url, "
          "dicom_port = excluded.dicom_port, pid = excluded.pid, "
          "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
          "load = excluded.load, ingested = excluded.ingested, "
          "taken_over = excluded.taken_over");
      if (!upsert.ok())
        return upsert.error();
      upsert->Bind("name", node.name)
          .Bind("version", node.version)
          .Bind("http_url", node.http_url)
          .Bind("dicom_port", node.dicom_port)
          .Bind("pid", node.pid)
          .Bind("started_at", node.started_ms)
          .Bind("now", now_ms)
          .Bind("load", node.load)
          .Bind("ingested", node.ingested)
          .Bind("taken_over", node.taken_over);
      DXHUB_TRY(upsert->Run());
      // A lease still running out is renewed; one that already ran out may have been taken
      // over by another node (or be about to be): it is left alone, and this node's late
      // result for it will be refused.
      for (const char* table : {"ai_jobs", "processing_jobs"}) {
        auto renew = tx.Prepare(std::string("UPDATE ") + table +
                                " SET lease_until = :until WHERE state = 'running' AND "
                                "claimed_by = :node AND lease_until >= :now");
        if (!renew.ok())
          return renew.error();
        renew->Bind("until", now_ms + lease_ms).Bind("node", node.name).Bind("now", now_ms);
        DXHUB_TRY(renew->Run());
        renewed += renew->Changes();
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return renewed;
  }

  Result<std::vector<NodeInfo>> ListNodes() override {
    std::vector<NodeInfo> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out.clear();
      auto nodes = tx.Prepare(
          "SELECT name, version, http_url, dicom_port, pid, started_at, heartbeat_at, load, "
          "ingested, taken_over FROM nodes ORDER BY heartbeat_at DESC, name");
      if (!nodes.ok())
        return nodes.error();
      DXHUB_TRY(nodes->ForEach([&](const Stmt& r) {
        NodeInfo n;
        n.name = r.Text("name");
        n.version = r.Text("version");
        n.http_url = r.Text("http_url");
        n.dicom_port = static_cast<int>(r.Int("dicom_port"));
        n.pid = r.Int("pid");
        n.started_ms = r.Int("started_at");
        n.heartbeat_ms = r.Int("heartbeat_at");
        n.load = r.Double("load");
        n.ingested = r.Int("ingested");
        n.taken_over = r.Int("taken_over");
        out.push_back(std::move(n));
      }));
      // The partial indexes on running jobs keep these to the few rows being worked on.
      std::map<std::string, std::pair<int64_t, int64_t>> claimed;
      auto ai = tx.Prepare(
          "SELECT claimed_by, COUNT(*) AS n FROM ai_jobs WHERE state = 'running' AND "
          "claimed_by IS NOT NULL GROUP BY claimed_by");
      if (!ai.ok())
        return ai.error();
      DXHUB_TRY(
          ai->ForEach([&](const Stmt& r) { claimed[r.Text("claimed_by")].first = r.Int("n"); }));
      auto processing = tx.Prepare(
          "SELECT claimed_by, COUNT(*) AS n FROM processing_jobs WHERE state = 'running' AND "
          "claimed_by IS NOT NULL GROUP BY claimed_by");
      if (!processing.ok())
        return processing.error();
      DXHUB_TRY(processing->ForEach(
          [&](const Stmt& r) { claimed[r.Text("claimed_by")].second = r.Int("n"); }));
      for (auto& n : out) {
        auto it = claimed.find(n.name);
        if (it != claimed.end()) {
          n.ai_claimed = it->second.first;
          n.processing_claimed = it->second.second;
        }
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Result<std::pair<JobQueueDepth, JobQueueDepth>> QueueDepths() override {
    std::pair<JobQueueDepth, JobQueueDepth> out;
    Status st = db_.Read([&](Transaction& tx) -> Status {
      out = {};
      for (const char* table : {"ai_jobs", "processing_jobs"}) {
        JobQueueDepth& depth = std::string(table) == "ai_jobs" ? out.first : out.second;
        auto count = tx.Prepare(std::string("SELECT state, COUNT(*) AS n FROM ") + table +
                                " WHERE state IN ('pending', 'running') GROUP BY state");
        if (!count.ok())
          return count.error();
        DXHUB_TRY(count->ForEach([&](const Stmt& r) {
          (r.Text("state") == "pending" ? depth.pending : depth.running) = r.Int("n");
        }));
      }
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return out;
  }

  Status Leave(const std::string& name) override {
    return db_.Write([&](Transaction& tx) -> Status {
      auto del = tx.Prepare("DELETE FROM nodes WHERE name = :name");
      if (!del.ok())
        return del.error();
      del->Bind("name", name);
      return del->Run();
    });
  }

  Result<int> ForgetNodes(int64_t before_ms) override {
    int forgotten = 0;
    Status st = db_.Write([&](Transaction& tx) -> Status {
      auto del = tx.Prepare("DELETE FROM nodes WHERE heartbeat_at < :before");
      if (!del.ok())
        return del.error();
      del->Bind("before", before_ms);
      DXHUB_TRY(del->Run());
      forgotten = static_cast<int>(del->Changes());
      return Ok();
    });
    if (!st.ok())
      return st.error();
    return forgotten;
  }

 private:
  sql::Database& db_;
};

}  // namespace

std::unique_ptr<ClusterStore> MakeSqlClusterStore(sql::Database& db) {
  return std::make_unique<SqlClusterStore>(db);
}

}  // namespace dxhub::store
