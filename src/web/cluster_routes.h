#pragma once
// The cluster API: the nodes sharing this archive's database (version, address, heartbeat,
// load, the jobs each holds) and the background queues they share. For administrators;
// `/metrics` stays per node. Private to the web layer.

#include "core/clock.h"
#include "store/archive.h"
#include "web/route_table.h"

namespace dxhub::web {

class ClusterRoutes {
 public:
  /// `self` is this node's name; a node is alive while its heartbeat is younger than a lease.
  ClusterRoutes(store::Archive& archive, const Clock& clock, std::string self, int64_t lease_ms)
      : archive_(archive), clock_(clock), self_(std::move(self)), lease_ms_(lease_ms) {}
  void Register(RouteTable& routes);

 private:
  store::Archive& archive_;
  const Clock& clock_;
  const std::string self_;
  const int64_t lease_ms_;
};

}  // namespace dxhub::web
