#pragma once
// The nodes sharing one index database: each renews its row and its job leases on a heartbeat;
// the cluster page lists them with what they hold. On SQLite there is one node, itself.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace dxhub::store {

struct NodeInfo {
  std::string name;
  std::string version;
  std::string http_url;
  int dicom_port = 0;
  int64_t pid = 0;
  int64_t started_ms = 0;
  int64_t heartbeat_ms = 0;
  double load = 0;         // the machine's 1-minute load average
  int64_t ingested = 0;    // instances stored through this node since it started
  int64_t taken_over = 0;  // dead nodes' jobs it requeued since it started
  int64_t ai_claimed = 0;  // running AI jobs it holds (filled by ListNodes)
  int64_t processing_claimed = 0;
};

/// Background jobs by state, across the cluster.
struct JobQueueDepth {
  int64_t pending = 0;
  int64_t running = 0;
};

class ClusterStore {
 public:
  virtual ~ClusterStore() = default;
  /// Records that `node` is alive and extends the leases of the jobs it holds to
  /// `now_ms + lease_ms`. Returns how many leases it renewed.
  virtual Result<int64_t> Heartbeat(const NodeInfo& node, int64_t now_ms, int64_t lease_ms) = 0;
  /// Every node that has ever registered, most recent heartbeat first.
  virtual Result<std::vector<NodeInfo>> ListNodes() = 0;
  /// AI and processing jobs waiting and being worked on (the partial indexes keep it cheap).
  virtual Result<std::pair<JobQueueDepth, JobQueueDepth>> QueueDepths() = 0;
  /// Removes one node's row (a command-line run that renewed its claims like a node).
  virtual Status Leave(const std::string& name) = 0;
  /// Removes the rows of nodes silent since before `before_ms` (decommissioned machines).
  virtual Result<int> ForgetNodes(int64_t before_ms) = 0;
};

}  // namespace dxhub::store
