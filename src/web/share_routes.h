#pragma once
// Sharing a study over HTTP. Users make share links (expiring, revocable, optionally behind an
// access code) and share a study with another institution; GET /share/{token} opens a
// read-only viewer without an account. The viewer's calls carry the link's token in the path
// and, once opened (access code checked, the opening audited), a grant cookie scoped to that
// link; images are rendered by the server, so nothing but pictures and the signed reports leave
// through a link. Private to the web layer.

#include "core/clock.h"
#include "store/archive.h"
#include "web/dicomweb_routes.h"
#include "web/login_throttle.h"
#include "web/route_table.h"

namespace dxhub::web {

class ShareRoutes {
 public:
  ShareRoutes(store::Archive& archive, const Clock& clock, DicomWebRoutes& dicomweb, bool secure)
      : archive_(archive), clock_(clock), dicomweb_(dicomweb), secure_(secure) {}
  void Register(RouteTable& routes);

 private:
  store::Archive& archive_;
  const Clock& clock_;
  DicomWebRoutes& dicomweb_;
  bool secure_;             // cookies only over HTTPS
  LoginThrottle throttle_;  // wrong access codes, per address and link
};

}  // namespace dxhub::web
