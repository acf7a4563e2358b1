#pragma once
// The peer API for administrators: the DICOM nodes and DICOMweb servers dxhub knows (this node's
// config file's and those stored in the database for every node), a connection test for each,
// and adding, replacing and removing stored ones. Private to the web layer.

#include <string>

#include "core/clock.h"
#include "store/archive.h"
#include "store/peer_directory.h"
#include "web/route_table.h"

namespace dxhub::web {

class PeerRoutes {
 public:
  /// `aet`: dxhub's own AE title (the calling AE of a C-ECHO); `client_cert`/`client_key`: what
  /// it presents to nodes reached over DICOM TLS.
  PeerRoutes(store::Archive& archive, store::PeerDirectory& peers, const Clock& clock,
             std::string aet, std::string client_cert, std::string client_key)
      : archive_(archive),
        peers_(peers),
        clock_(clock),
        aet_(std::move(aet)),
        client_cert_(std::move(client_cert)),
        client_key_(std::move(client_key)) {}
  void Register(RouteTable& routes);

 private:
  /// Records an administrator's change; kUnavailable when it cannot be recorded.
  Status Audited(const std::string& who, const std::string& action, const std::string& name,
                 const std::string& remote, const std::string& detail);

  store::Archive& archive_;
  store::PeerDirectory& peers_;
  const Clock& clock_;
  const std::string aet_;
  const std::string client_cert_;
  const std::string client_key_;
};

}  // namespace dxhub::web
