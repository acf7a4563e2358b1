#pragma once
// The image-processing API: queue an operation on a series, follow its progress, list a
// series' jobs, download result files (meshes, centre lines, previews). Derived DICOM series
// land in the archive and are read like any other. Private to the web layer; roles and the
// audit follow from each route's policy (web/route_table.h).

#include <httplib.h>

#include "core/clock.h"
#include "imaging/processing.h"
#include "store/archive.h"
#include "web/route_table.h"

namespace dxhub::web {

class ProcessingRoutes {
 public:
  ProcessingRoutes(store::Archive& archive, imaging::ProcessingService* service)
      : archive_(archive), service_(service) {}
  void Register(RouteTable& routes);

 private:
  /// kNotFound unless `scope` sees the series (another institution's does not exist for it).
  Status SeriesInScope(const store::Scope& scope, const std::string& series_uid);

  store::Archive& archive_;
  imaging::ProcessingService* service_;  // null: processing is off, the routes answer 503
};

}  // namespace dxhub::web
