#include "store/peer_directory.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace dxhub::store {

PeerDirectory::PeerDirectory(PeerStore& store, const Clock& clock,
                             std::vector<RemoteAe> configured_aes,
                             std::vector<DicomWebPeer> configured_web)
    : store_(store),
      clock_(clock),
      configured_aes_(std::move(configured_aes)),
      configured_web_(std::move(configured_web)) {
  auto first = std::make_shared<Snapshot>();
  first->remote_aes = configured_aes_;
  first->dicomweb_peers = configured_web_;
  for (const auto& ae : configured_aes_)
    configured_names_.insert(ae.name);
  for (const auto& peer : configured_web_)
    configured_names_.insert(peer.name);
  first->configured = configured_names_;
  current_ = std::move(first);
}

std::shared_ptr<const PeerDirectory::Snapshot> PeerDirectory::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void PeerDirectory::OnChange(std::function<void(const Snapshot&)> listener) {
  listener_ = std::move(listener);
}

Status PeerDirectory::Refresh() {
  std::lock_guard refreshing(refresh_mu_);
  auto stored = store_.List();
  if (!stored.ok()) {
    if (!failing_)
      spdlog::warn("peers: cannot read the stored peers ({}); using the last known ones",
                   stored.error().message);
    failing_ = true;
    return stored.error();
  }
  if (failing_)
    spdlog::info("peers: stored peers readable again");
  failing_ = false;

  auto next = std::make_shared<Snapshot>();
  next->remote_aes = configured_aes_;
  next->dicomweb_peers = configured_web_;
  next->configured = configured_names_;
  auto shadowed = [&](const std::string& name) {
    if (!configured_names_.count(name))
      return false;
    if (shadowed_.insert(name).second)
      spdlog::warn(
          "peers: '{}' is in this node's config file and in the database; this node "
          "uses its config file's",
          name);
    return true;
  };
  for (auto& ae : stored->remote_aes) {
    if (!shadowed(ae.name))
      next->remote_aes.push_back(std::move(ae));
  }
  for (auto& peer : stored->dicomweb_peers) {
    if (!shadowed(peer.name))
      next->dicomweb_peers.push_back(std::move(peer));
  }
  if (*Current() == *next)
    return Ok();  // only Refresh() replaces it, and refreshes run one at a time
  spdlog::info("peers: {} DICOM nodes, {} DICOMweb servers", next->remote_aes.size(),
               next->dicomweb_peers.size());
  // The listener first: once /api/peers lists a query peer, the DICOM listener admits it.
  if (listener_)
    listener_(*next);
  std::lock_guard lock(mu_);
  current_ = std::move(next);
  return Ok();
}

std::optional<RemoteAe> PeerDirectory::FindByAet(const std::string& aet) const {
  auto snapshot = Current();
  for (const auto& ae : snapshot->remote_aes) {
    if (ae.aet == aet)
      return ae;
  }
  return std::nullopt;
}

Status PeerDirectory::RefuseConfigured(const std::string& name) const {
  if (!configured_names_.count(name))
    return Ok();
  return MakeError(ErrorCode::kAlreadyExists,
                   "'" + name + "' is declared in this node's config file; change it there");
}

Status PeerDirectory::PutRemoteAe(const RemoteAe& ae, const std::string& by) {
  DXHUB_TRY(ValidateRemoteAe(ae));
  DXHUB_TRY(RefuseConfigured(ae.name));
  DXHUB_TRY(store_.PutRemoteAe(ae, by, clock_.NowMillis()));
  (void)Refresh();  // stored: a failed read now is caught up by the next periodic one
  return Ok();
}

Status PeerDirectory::PutDicomWebPeer(const DicomWebPeer& peer, const std::string& by) {
  auto checked = MakeDicomWebPeer(peer.name, peer.url);
  if (!checked.ok())
    return checked.error();
  if (peer.token.size() > 4096 ||
      std::any_of(peer.token.begin(), peer.token.end(),
                  [](unsigned char ch) { return ch < 0x21 || ch >= 0x7f; })) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "DICOMweb peer '" + peer.name +
                         "': the token must be up to 4096 printable characters without spaces");
  }
  checked->token = peer.token;
  DXHUB_TRY(RefuseConfigured(peer.name));
  DXHUB_TRY(store_.PutDicomWebPeer(*checked, by, clock_.NowMillis()));
  (void)Refresh();
  return Ok();
}

Status PeerDirectory::Remove(const std::string& name) {
  if (configured_names_.count(name)) {
    return MakeError(ErrorCode::kForbidden,
                     "'" + name + "' is declared in this node's config file; remove it there");
  }
  DXHUB_TRY(store_.Delete(name));
  (void)Refresh();
  return Ok();
}

}  // namespace dxhub::store
