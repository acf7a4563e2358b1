#pragma once
// Who claims background jobs, and for how long. Several nodes share one job queue; a node's
// claim is a lease it renews while it works (ClusterStore::Heartbeat), so a job whose node died
// goes back to the queue when the lease runs out, and only the claimer may complete it.

#include <cstdint>
#include <string>

namespace dxhub::store {

struct JobLease {
  std::string node = "local";  // this node's name, unique in the cluster
  int64_t lease_ms = 30000;    // how long a claim holds without renewal
};

}  // namespace dxhub::store
