#pragma once
// The image-processing API: queue an operation on a series, follow its progress, list a
// series' jobs, download result files (meshes, centre lines, previews). Derived DICOM series
// land in the archive and are read like any other. Private to the web layer; roles and the
// audit are the server's guard's.

#include <httplib.h>

#include "core/clock.h"
#include "imaging/processing.h"
#include "store/archive.h"
#include "web/review_routes.h"

namespace dxhub::web {

class ProcessingRoutes {
 public:
  ProcessingRoutes(store::Archive& archive, imaging::ProcessingService* service,
                   ReviewRoutes::WhoFn who)
      : archive_(archive), service_(service), who_(std::move(who)) {}
  void Register(httplib::Server& server);

 private:
  store::Archive& archive_;
  imaging::ProcessingService* service_;  // null: processing is off, the routes answer 503
  ReviewRoutes::WhoFn who_;
};

}  // namespace dxhub::web
