#pragma once
// Internal to src/dicom (it includes DCMTK, whose include path is private to this layer): how
// the SCP takes over a connection that the AssociationListener accepted, on plain TCP or on
// DICOM TLS, and reads its A-ASSOCIATE-RQ.

#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "dicom/association_listener.h"
#include "dicom/store_scp.h"

namespace dxhub::dicom::scp {

/// Owns a T_ASC_Association: drops the connection and frees it on scope exit.
struct AssociationDeleter {
  void operator()(T_ASC_Association* assoc) const {
    ASC_dropSCPAssociation(assoc);
    ASC_destroyAssociation(&assoc);
  }
};
using AssociationPtr = std::unique_ptr<T_ASC_Association, AssociationDeleter>;

/// Answers an A-ASSOCIATE-RQ with A-ASSOCIATE-RJ.
void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason);

/// DCMTK's transport layer (plain TCP or dcmtls) that releases the external-socket lock (see
/// transport.cpp) the moment DCMTK has wrapped the socket, before any TLS handshake or PDU read.
template <class Base>
class ReleasingLayer final : public Base {
 public:
  template <class... Args>
  explicit ReleasingLayer(Args&&... args) : Base(std::forward<Args>(args)...) {}
  DcmTransportConnection* createConnection(DcmNativeSocketType fd, OFBool secure) override {
    if (held_ != nullptr && held_->owns_lock())
      held_->unlock();
    held_ = nullptr;
    return Base::createConnection(fd, secure);
  }
  /// Set, under the lock, by the receive that holds it.
  std::unique_lock<std::mutex>* held_ = nullptr;
};
using PlainLayer = ReleasingLayer<DcmTransportLayer>;
using TlsLayer = ReleasingLayer<DcmTLSTransportLayer>;

/// One port of the SCP: its listener and its DCMTK network with the transport layer.
/// Thread-safe: Receive runs on several threads at once, ReloadTls beside them.
class Endpoint {
 public:
  Endpoint() = default;
  ~Endpoint() { Close(); }
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  /// Creates the DCMTK network (plain, or TLS with the options' certificate, key and CA
  /// folder). Fails with kInvalidArgument for unreadable or mismatched TLS files.
  Status Open(bool tls, const ScpOptions& options);
  /// Reads the certificate, key and CA folder again; connections from now on use them, open
  /// ones keep theirs. The old ones stay when the new ones cannot be read.
  Status ReloadTls(const ScpOptions& options);
  /// Reads the A-ASSOCIATE-RQ waiting on `fd` (after the TLS handshake on a TLS endpoint);
  /// DCMTK owns `fd` from then on. Null (and `fd` closed) when it cannot be read.
  AssociationPtr Receive(int fd);
  /// Stops the listener and frees the network. Associations must have ended.
  void Close();

  bool tls() const { return tls_; }
  int port() const { return listener ? listener->port() : -1; }

  AssociationListenerPtr listener;

 private:
  bool tls_ = false;
  T_ASC_Network* network_ = nullptr;
  std::unique_ptr<PlainLayer> plain_;
  // The layer in use is the last; earlier ones (before a reload) live on until Close, because
  // DCMTK's connections made by them may still be open.
  std::vector<std::unique_ptr<TlsLayer>> secure_;  // guarded by the external-socket lock
};

}  // namespace dxhub::dicom::scp
