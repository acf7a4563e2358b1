#pragma once
// The peers this node knows: those of its config file, and those administrators added at run
// time, which live in the database and so are the same on every node sharing it. C-MOVE
// destinations, query/retrieve rules and /api/peers all read one snapshot of it.
//
// Stored peers are read again on Refresh() (the app calls it every few seconds, and at once after
// a change made through this node): a peer added on one node reaches the others within that
// period, without a restart. A config-file peer wins over a stored one of the same name on the
// node whose file declares it, and cannot be changed or removed through the API.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "store/peer_store.h"

namespace dxhub::store {

class PeerDirectory {
 public:
  struct Snapshot {
    std::vector<RemoteAe> remote_aes;  // the config file's, then the stored ones, by name
    std::vector<DicomWebPeer> dicomweb_peers;
    std::set<std::string> configured;  // names from this node's config file
    bool operator==(const Snapshot&) const = default;
  };

  PeerDirectory(PeerStore& store, const Clock& clock, std::vector<RemoteAe> configured_aes,
                std::vector<DicomWebPeer> configured_web);

  /// The directory as last read; never null (the config file's peers before the first read).
  std::shared_ptr<const Snapshot> Current() const;
  /// Reads the stored peers; when the directory changed, calls the listener (on the calling
  /// thread). On a database error the last snapshot stays in use.
  Status Refresh();
  /// Called with each new snapshot (query/retrieve rules of the DICOM listener). Set it before
  /// the first Refresh().
  void OnChange(std::function<void(const Snapshot&)> listener);

  /// The remote AE with this AE title (C-MOVE destination), if known.
  std::optional<RemoteAe> FindByAet(const std::string& aet) const;

  /// Validates and stores a peer (adding or replacing by name) and refreshes. kInvalidArgument
  /// for a malformed one; kAlreadyExists when this node's config file declares the name.
  Status PutRemoteAe(const RemoteAe& ae, const std::string& by);
  Status PutDicomWebPeer(const DicomWebPeer& peer, const std::string& by);
  /// kNotFound for an unknown name; kForbidden for one from the config file.
  Status Remove(const std::string& name);

 private:
  Status RefuseConfigured(const std::string& name) const;

  PeerStore& store_;
  const Clock& clock_;
  const std::vector<RemoteAe> configured_aes_;
  const std::vector<DicomWebPeer> configured_web_;
  std::set<std::string> configured_names_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;        // guarded by mu_
  std::function<void(const Snapshot&)> listener_;  // set before the first Refresh
  std::mutex refresh_mu_;                          // one refresh at a time, in order
  std::set<std::string> shadowed_;                 // guarded by refresh_mu_ (logged once)
  bool failing_ = false;                           // guarded by refresh_mu_
};

}  // namespace dxhub::store
