#pragma once
// De-identified research exports over HTTP: administrators make projects (profile options,
// members); a user who may see studies exports them into a project (one list, or a query's
// result, limited to the caller's scope); the project's members, researchers among them,
// download each export as a ZIP de-identified on the way out (store/deid_export.h), or send it
// by STOW-RS to a DICOMweb peer (a research PACS). A researcher reaches nothing else. Private to
// the web layer.

#include "core/clock.h"
#include "store/archive.h"
#include "store/peer_directory.h"
#include "web/route_table.h"

namespace dxhub::web {

class DeidRoutes {
 public:
  DeidRoutes(store::Archive& archive, store::PeerDirectory& peers, const Clock& clock)
      : archive_(archive), peers_(peers), clock_(clock) {}
  void Register(RouteTable& routes);

 private:
  store::Archive& archive_;
  store::PeerDirectory& peers_;  // DICOMweb targets of exports
  const Clock& clock_;
};

}  // namespace dxhub::web
