#pragma once
// The region's institutions and its patient index over HTTP: every user lists the institutions
// they see (their own and those it reads for; all of them for users of the whole region) and a
// study's history across the patient's linked identities; administrators of the whole region add
// institutions and link (or unlink) one person's identities. Private to the web layer.

#include "core/clock.h"
#include "store/archive.h"
#include "web/route_table.h"

namespace dxhub::web {

class InstitutionRoutes {
 public:
  InstitutionRoutes(store::Archive& archive, const Clock& clock)
      : archive_(archive), clock_(clock) {}
  void Register(RouteTable& routes);

 private:
  store::Archive& archive_;
  const Clock& clock_;
};

}  // namespace dxhub::web
