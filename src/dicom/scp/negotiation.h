#pragma once
// Internal to src/dicom: who may associate with the SCP and what it accepts of an
// A-ASSOCIATE-RQ (the presentation contexts of docs/conformance.md).

#include <dcmtk/dcmnet/assoc.h>

#include <string>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "dicom/store_scp.h"

namespace dxhub::dicom::scp {

/// The SCP's address rules, parsed once: who may associate at all, and who may query and
/// retrieve (an AE title together with the addresses it must come from).
class AccessRules {
 public:
  /// kInvalidArgument for a malformed IP or CIDR range.
  static Result<AccessRules> From(const ScpOptions& options);
  bool HostAllowed(const std::string& ip) const;
  bool MayQuery(const std::string& aet, const std::string& ip) const;

 private:
  struct QueryPeerRule {
    std::string aet;
    std::vector<IpRange> from;
  };
  std::vector<IpRange> allowed_hosts_;
  std::vector<QueryPeerRule> query_peers_;
};

/// What the SCP offers besides verification and storage.
struct Services {
  bool find = false;
  bool retrieve = false;  // C-MOVE and C-GET
};

/// Checks the called and calling AE and the peer address, accepts the presentation contexts
/// dxhub supports and acknowledges; or rejects with the reason. True when associated.
bool Negotiate(T_ASC_Association* assoc, const std::string& peer, const ScpOptions& options,
               const AccessRules& rules, Services services);

}  // namespace dxhub::dicom::scp
