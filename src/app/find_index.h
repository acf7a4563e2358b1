#pragma once
// C-FIND answered from the index: DIMSE identifiers become index queries (the same matching
// as QIDO-RS, see store/query_keys.h).

#include <string>

#include "core/config.h"
#include "dicom/store_scp.h"
#include "store/blob_store.h"
#include "store/peer_directory.h"
#include "store/study_index.h"

namespace dxhub::app {

/// The index query a C-FIND/C-MOVE identifier asks for, at its QueryRetrieveLevel.
Result<store::IndexQuery> IdentifierToQuery(const dicom::FindQuery& query);

class FindIndex final : public dicom::FindHandler {
 public:
  FindIndex(store::StudyIndex& index, std::string aet) : index_(index), aet_(std::move(aet)) {}
  Result<std::vector<dicom::FindMatch>> Find(const dicom::FindQuery& query) override;

 private:
  store::StudyIndex& index_;
  std::string aet_;  // RetrieveAETitle in answers
};

/// C-MOVE from the index to the remote AEs of the peer directory (as it is when the request
/// arrives).
class MoveIndex final : public dicom::MoveHandler {
 public:
  /// `client_cert`/`client_key`: what dxhub presents to destinations reached over TLS.
  MoveIndex(store::StudyIndex& index, const store::BlobStore& blobs,
            const store::PeerDirectory& peers, std::string client_cert = "",
            std::string client_key = "")
      : index_(index),
        blobs_(blobs),
        peers_(peers),
        client_cert_(std::move(client_cert)),
        client_key_(std::move(client_key)) {}
  Result<std::vector<dicom::OutgoingInstance>> Resolve(const dicom::FindQuery& query) override;
  std::optional<dicom::RemoteNode> Destination(const std::string& aet) override;

 private:
  store::StudyIndex& index_;
  const store::BlobStore& blobs_;
  const store::PeerDirectory& peers_;
  std::string client_cert_;
  std::string client_key_;
};

}  // namespace dxhub::app
