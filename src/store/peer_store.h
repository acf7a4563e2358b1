#pragma once
// The remote DICOM nodes and DICOMweb servers administrators add at run time, shared by every
// node on one database. (Peers in a node's config file are not stored here: see
// peer_directory.h for how the two are combined.)

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace dxhub::store {

/// Both kinds of peer under one name space: /api/peers/NAME addresses either.
struct StoredPeers {
  std::vector<RemoteAe> remote_aes;
  std::vector<DicomWebPeer> dicomweb_peers;
};

class PeerStore {
 public:
  virtual ~PeerStore() = default;
  /// Every stored peer, by name.
  virtual Result<StoredPeers> List() = 0;
  /// Adds the peer, or replaces the one of that name (of either kind). `by`: who did it.
  virtual Status PutRemoteAe(const RemoteAe& ae, const std::string& by, int64_t now_ms) = 0;
  virtual Status PutDicomWebPeer(const DicomWebPeer& peer, const std::string& by,
                                 int64_t now_ms) = 0;
  /// kNotFound when no peer has that name.
  virtual Status Delete(const std::string& name) = 0;
};

}  // namespace dxhub::store
