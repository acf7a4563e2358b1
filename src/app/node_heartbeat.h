#pragma once
// This node's heartbeat in the shared database: its row on the cluster page, and the renewal
// of the leases on the jobs it holds. If the heartbeat stops (the node died, hung, or lost the
// database for longer than a lease), other nodes take its jobs over.

#include <functional>

#include "core/clock.h"
#include "core/periodic.h"
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

  store::ClusterStore& cluster_;
  const Clock& clock_;
  store::NodeInfo node_;
  const int64_t lease_ms_;
  std::function<void(store::NodeInfo&)> describe_;
  bool failing_ = false;  // the last beat failed (logged once per outage); Beat() only
  Periodic beats_;        // last: stopped before the members its beats use go
};

/// The machine's 1-minute load average (0 where /proc/loadavg cannot be read).
double LoadAverage();

}  // namespace dxhub::app
