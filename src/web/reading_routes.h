#pragma once
// Remote reading over HTTP: a clinic's users request a read of a study; the radiologists of an
// institution that reads for the clinic (or of the whole region) work the queue, claim a
// request, write the report as a draft and sign it; the clinic sees signed reports (and their
// PDF) on the study; turnaround statistics per clinic. Every call is limited to the caller's
// scope in the store's queries; who may claim and sign is decided here. Private to the web layer.

#include "core/clock.h"
#include "store/archive.h"
#include "store/reading_store.h"
#include "web/route_table.h"

namespace dxhub::web {

class ReadingRoutes {
 public:
  ReadingRoutes(store::Archive& archive, const Clock& clock, store::TurnaroundTargets targets)
      : archive_(archive), clock_(clock), targets_(targets) {}
  void Register(RouteTable& routes);

 private:
  store::Archive& archive_;
  const Clock& clock_;
  store::TurnaroundTargets targets_;
};

}  // namespace dxhub::web
