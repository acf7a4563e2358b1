#pragma once
// This node's heartbeat in the shared database: its row on the cluster page, and the renewal
// of the leases on the jobs it holds. If the heartbeat stops (the node died, hung, or lost the
// database for longer than a lease), other nodes take its jobs over.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "store/cluster_store.h"

namespace dxhub::app {

class NodeHeartbeat {
 public:
  /// `describe` fills the live parts of the node's row (load, counters) at each beat.
  NodeHeartbeat(store::ClusterStore& cluster, const Clock& clock, store::NodeInfo node,
                int64_t lease_ms, std::function<void(store::NodeInfo&)> describe);
  ~NodeHeartbeat();
  NodeHeartbeat(const NodeHeartbeat&) = delete;
  NodeHeartbeat& operator=(const NodeHeartbeat&) = delete;

  /// Beats once now (so the node is listed before it accepts work), then every third of a
  /// lease: a lease survives two missed beats.
  void Start();
  void Stop();

 private:
  void Beat();
  void Loop();

  store::ClusterStore& cluster_;
  const Clock& clock_;
  store::NodeInfo node_;
  const int64_t lease_ms_;
  std::function<void(store::NodeInfo&)> describe_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  bool failing_ = false;   // the last beat failed (logged once per outage)
  std::thread thread_;
};

/// The machine's 1-minute load average (0 where /proc/loadavg cannot be read).
double LoadAverage();

}  // namespace dxhub::app
