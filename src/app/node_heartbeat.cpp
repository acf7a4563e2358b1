#include "app/node_heartbeat.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>

namespace dxhub::app {

NodeHeartbeat::NodeHeartbeat(store::ClusterStore& cluster, const Clock& clock, store::NodeInfo node,
                             int64_t lease_ms, std::function<void(store::NodeInfo&)> describe)
    : cluster_(cluster),
      clock_(clock),
      node_(std::move(node)),
      lease_ms_(lease_ms),
      describe_(std::move(describe)),
      beats_(std::chrono::milliseconds(std::max<int64_t>(lease_ms / 3, 500)), [this] { Beat(); }) {}

NodeHeartbeat::~NodeHeartbeat() {
  Stop();
}

void NodeHeartbeat::Start() {
  Beat();
  beats_.Start();
}

void NodeHeartbeat::Stop() {
  beats_.Stop();
}

void NodeHeartbeat::Beat() {
  if (describe_)
    describe_(node_);
  auto renewed = cluster_.Heartbeat(node_, clock_.NowMillis(), lease_ms_);
  if (!renewed.ok()) {
    if (!failing_) {
      spdlog::error(
          "cluster: heartbeat failed ({}); jobs this node holds go to other nodes if it lasts "
          "longer than {} s",
          renewed.error().message, lease_ms_ / 1000);
    }
    failing_ = true;
    return;
  }
  if (failing_)
    spdlog::info("cluster: heartbeat recovered");
  failing_ = false;
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  if (!(in >> load))
    return 0;
  return load;
}

}  // namespace dxhub::app
