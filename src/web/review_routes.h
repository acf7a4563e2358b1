#pragma once
// The doctors' routes behind the web app: the worklist (and its change stamp for live updates),
// a study's review state, decisions on AI high-risk findings, and review statistics.
// Private to the web layer (it names httplib types); each route's policy is in its registration.

#include <httplib.h>

#include <functional>
#include <string>

#include "core/clock.h"
#include "store/archive.h"
#include "web/route_table.h"

namespace dxhub::web {

class ReviewRoutes {
 public:
  ReviewRoutes(store::Archive& archive, const Clock& clock, int64_t wait_cap_ms)
      : archive_(archive), clock_(clock), wait_cap_ms_(wait_cap_ms) {}
  void Register(RouteTable& routes);

 private:
  store::Archive& archive_;
  const Clock& clock_;
  int64_t wait_cap_ms_;
};

}  // namespace dxhub::web
