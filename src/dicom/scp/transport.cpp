#include "dicom/scp/transport.h"

#include <dcmtk/dcmnet/dul.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>

namespace dxhub::dicom::scp {
namespace {

// DCMTK reads a connection it did not accept only through one process-wide setting, the
// socket handle its inetd mode uses (dcmExternalSocketHandle), read once at the start of
// ASC_receiveAssociation. Setting it and DCMTK's taking of the socket happen under this lock;
// the transport layer releases it the moment DCMTK wraps the socket, so a slow peer never
// holds it. It also guards which TLS layer a network uses (a reload swaps it).
std::mutex& ExternalSocketMutex() {
  static std::mutex mu;
  return mu;
}

// An acceptor network without a listening socket of DCMTK's own (the listener owns the port).
OFCondition InitializeAcceptor(int acse_timeout_s, T_ASC_Network** network) {
  std::lock_guard lock(ExternalSocketMutex());
  dcmExternalSocketHandle.set(0);  // >= 0: DCMTK creates no listening socket
  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, acse_timeout_s, network);
  dcmExternalSocketHandle.set(-1);
  return cond;
}

// dcmtls with the BCP 195 non-downgrading profile (TLS 1.2+); client certificates required
// and checked against the CA folder when one is configured.
Result<std::unique_ptr<TlsLayer>> MakeTlsLayer(const ScpOptions& options) {
  auto layer = std::make_unique<TlsLayer>(NET_ACCEPTOR, nullptr, OFTrue);
  OFCondition cond = layer->setTLSProfile(TSP_Profile_BCP195_ND);
  if (cond.good())
    cond = layer->activateCipherSuites();
  if (cond.bad())
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("DICOM TLS: profile: ") + cond.text());
  if (layer->setPrivateKeyFile(options.tls_key.c_str(), DCF_Filetype_PEM).bad())
    return MakeError(ErrorCode::kInvalidArgument, "DICOM TLS: cannot read key " + options.tls_key);
  if (layer->setCertificateFile(options.tls_cert.c_str(), DCF_Filetype_PEM).bad()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "DICOM TLS: cannot read certificate " + options.tls_cert);
  }
  if (!layer->checkPrivateKeyMatchesCertificate()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "DICOM TLS: key " + options.tls_key + " does not match " + options.tls_cert);
  }
  if (options.tls_ca_dir.empty()) {
    layer->setCertificateVerification(DCV_ignoreCertificate);
    return layer;
  }
  int added = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options.tls_ca_dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if ((ext == ".pem" || ext == ".crt") &&
        layer->addTrustedCertificateFile(entry.path().c_str(), DCF_Filetype_PEM).good()) {
      ++added;
    }
  }
  if (ec || added == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "DICOM TLS: no CA certificate (*.pem, *.crt) in " + options.tls_ca_dir);
  }
  layer->setCertificateVerification(DCV_requireCertificate);
  return layer;
}

}  // namespace

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rej{result, source, reason};
  ASC_rejectAssociation(assoc, &rej);
}

Status Endpoint::Open(bool tls, const ScpOptions& options) {
  tls_ = tls;
  OFCondition cond = InitializeAcceptor(options.acse_timeout_s, &network_);
  if (cond.bad())
    return MakeError(ErrorCode::kUnavailable, std::string("DICOM network: ") + cond.text());
  if (tls)
    return ReloadTls(options);
  plain_ = std::make_unique<PlainLayer>();
  cond = ASC_setTransportLayer(network_, plain_.get(), 0);
  if (cond.bad())
    return MakeError(ErrorCode::kInternal, std::string("DICOM transport: ") + cond.text());
  return Ok();
}

Status Endpoint::ReloadTls(const ScpOptions& options) {
  if (!tls_)
    return Ok();
  auto layer = MakeTlsLayer(options);
  if (!layer.ok())
    return layer.error();
  std::lock_guard lock(ExternalSocketMutex());
  OFCondition cond = ASC_setTransportLayer(network_, layer->get(), 0);
  if (cond.bad())
    return MakeError(ErrorCode::kInternal, std::string("DICOM transport: ") + cond.text());
  secure_.push_back(std::move(layer.value()));
  return Ok();
}

AssociationPtr Endpoint::Receive(int fd) {
  T_ASC_Association* raw = nullptr;
  OFCondition cond;
  {
    std::unique_lock lock(ExternalSocketMutex());
    std::unique_lock<std::mutex>** held = tls_ ? &secure_.back()->held_ : &plain_->held_;
    *held = &lock;
    // Never reset afterwards: once the lock is released another receive may have set its own.
    dcmExternalSocketHandle.set(fd);
    cond = ASC_receiveAssociation(network_, &raw, ASC_MAXIMUMPDUSIZE, nullptr, nullptr,
                                  tls_ ? OFTrue : OFFalse, DUL_BLOCK, 0);
    if (lock.owns_lock())  // DCMTK failed before taking the socket
      *held = nullptr;
  }
  AssociationPtr assoc(raw);
  if (cond.bad()) {
    spdlog::warn("dicom: bad association request{}: {}", tls_ ? " on the TLS port" : "",
                 cond.text());
    if (!assoc)
      ::close(fd);
    return nullptr;
  }
  return assoc;
}

void Endpoint::Close() {
  if (listener)
    listener->Stop();
  listener.reset();
  if (network_ != nullptr)
    ASC_dropNetwork(&network_);
  plain_.reset();
  secure_.clear();
}

}  // namespace dxhub::dicom::scp
