#pragma once
// The doctors' routes behind the web app: the worklist (and its change stamp for live updates),
// a study's review state, decisions on AI high-risk findings, and review statistics.
// Private to the web layer (it names httplib types); roles are enforced by the server's guard.

#include <httplib.h>

#include <functional>
#include <string>

#include "core/clock.h"
#include "store/archive.h"

namespace dxhub::web {

/// Who is calling: username and role of the authenticated user (the guard already let them in).
struct CallerInfo {
  std::string username;
  std::string role;
};

class ReviewRoutes {
 public:
  using WhoFn = std::function<CallerInfo(const httplib::Request&)>;
  ReviewRoutes(store::Archive& archive, const Clock& clock, int64_t wait_cap_ms, WhoFn who)
      : archive_(archive), clock_(clock), wait_cap_ms_(wait_cap_ms), who_(std::move(who)) {}
  void Register(httplib::Server& server);

 private:
  store::Archive& archive_;
  const Clock& clock_;
  int64_t wait_cap_ms_;
  WhoFn who_;
};

}  // namespace dxhub::web
