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
      describe_(std::move(describe)) {}

NodeHeartbeat::~NodeHeartbeat() {
  Stop();
}

void NodeHeartbeat::Start() {
  Beat();
  thread_ = std::thread([this] { Loop(); });
}

void NodeHeartbeat::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
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

void NodeHeartbeat::Loop() {
  const auto period = std::chrono::milliseconds(std::max<int64_t>(lease_ms_ / 3, 500));
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, period, [&] { return stopping_; }))
        return;
    }
    Beat();
  }
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  if (!(in >> load))
    return 0;
  return load;
}

}  // namespace dxhub::app
