// DIMSE SCP on DCMTK's association (ASC) and message (DIMSE) layers.
//
// Why not DcmSCP/DcmSCPPool: their presentation-context profile holds at most 128 abstract
// syntaxes, fewer than the ~170 storage SOP classes an archive must accept. The lower layer lets
// us accept every storage SOP class, as storescp and Orthanc do, and own the worker pool:
// a fixed number of association workers; an association arriving when all are busy is rejected
// at once ("local limit exceeded") instead of waiting in a queue forever.

#include "dicom/store_scp.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcostrmf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "core/fs.h"
#include "core/net.h"
#include "dicom/association_listener.h"
#include "dicom/transcode.h"

namespace dxhub::dicom {
namespace {

// Preference order: the encodings modalities send compressed first, so that when an SCU offers
// both its compressed form and an uncompressed fallback the archive keeps what the modality made.
const std::vector<std::string> kTransferSyntaxes = {
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Owns a T_ASC_Association: drops the connection and frees it on scope exit.
struct AssociationDeleter {
  void operator()(T_ASC_Association* assoc) const {
    ASC_dropSCPAssociation(assoc);
    ASC_destroyAssociation(&assoc);
  }
};
using AssociationPtr = std::unique_ptr<T_ASC_Association, AssociationDeleter>;

// Appends the received dataset to the temp file. A failing write (disk full) is remembered, not
// reported to DCMTK: the DIMSE layer then keeps reading the rest of the dataset, so the sender
// gets a proper "Out of Resources" response instead of an aborted association.
class TolerantFileConsumer final : public DcmConsumer {
 public:
  explicit TolerantFileConsumer(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)) {
    if (fd_ < 0)
      error_ = errno;
    buffer_.reserve(kBufferSize);
  }
  ~TolerantFileConsumer() override {
    Drain();
    if (fd_ >= 0)
      ::close(fd_);
  }
  TolerantFileConsumer(const TolerantFileConsumer&) = delete;
  TolerantFileConsumer& operator=(const TolerantFileConsumer&) = delete;

  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool isFlushed() const override { return buffer_.empty(); }
  offile_off_t avail() const override { return 1 << 30; }
  offile_off_t write(const void* buf, offile_off_t len) override {
    const char* p = static_cast<const char*>(buf);
    buffer_.insert(buffer_.end(), p, p + len);
    if (buffer_.size() >= kBufferSize)
      Drain();
    return len;
  }
  void flush() override { Drain(); }
  /// 0, or the errno of the first failed write (or of opening the file). Final once the
  /// consumer was flushed.
  int error() {
    Drain();
    return error_;
  }

 private:
  // PDVs arrive in pieces of the sender's PDU size (often 16 KiB): write in larger blocks.
  static constexpr size_t kBufferSize = size_t{256} * 1024;

  void Drain() {
    const char* p = buffer_.data();
    size_t left = buffer_.size();
    while (error_ == 0 && left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno != EINTR)
          error_ = errno;
        continue;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    buffer_.clear();
  }

  int fd_;
  int error_ = 0;
  std::vector<char> buffer_;
};

// DcmOutputStream's constructor is protected and needs its consumer to exist first.
struct ConsumerHolder {
  explicit ConsumerHolder(const std::string& path) : consumer(path) {}
  TolerantFileConsumer consumer;
};
class TolerantFileStream final : private ConsumerHolder, public DcmOutputStream {
 public:
  explicit TolerantFileStream(const std::string& path)
      : ConsumerHolder(path), DcmOutputStream(&consumer) {}
  int error() { return consumer.error(); }
};

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rej{result, source, reason};
  ASC_rejectAssociation(assoc, &rej);
}

// The final status of a C-MOVE/C-GET (PS3.4 C.4.2.1.5/C.4.3.1.4): cancelled, all failed,
// some failed, or success. The MOVE and GET codes are the same numbers.
Uint16 FinalRetrieveStatus(const SendResult& sent, int total) {
  if (sent.cancelled)
    return STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
  if (total > 0 && sent.failed == total)
    return STATUS_MOVE_Refused_OutOfResourcesSubOperations;  // 0xA702: none could be sent
  if (sent.failed > 0 || sent.warning > 0)
    return STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
  return STATUS_MOVE_Success_SubOperationsCompleteNoFailures;
}

// Accepts the storage contexts with the role the requestor proposed: the default (it sends us
// C-STOREs) or SCP (a C-GET client receiving them), choosing our most preferred transfer syntax
// among those proposed.
OFCondition AcceptStorageContexts(T_ASC_Parameters* params,
                                  const std::vector<const char*>& preference) {
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    OFCondition cond = ASC_getPresentationContext(params, i, &pc);
    if (cond.bad())
      return cond;
    if (!dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All))
      continue;
    for (const char* ts : preference) {
      const auto* proposed = std::find_if(
          pc.proposedTransferSyntaxes, pc.proposedTransferSyntaxes + pc.transferSyntaxCount,
          [ts](const DIC_UI& p) { return std::strcmp(p, ts) == 0; });
      if (proposed == pc.proposedTransferSyntaxes + pc.transferSyntaxCount)
        continue;
      cond = ASC_acceptPresentationContext(params, pc.presentationContextID, ts, pc.proposedRole);
      if (cond.bad())
        return cond;
      break;
    }
  }
  return EC_Normal;
}

// DCMTK reads a connection it did not accept only through one process-wide setting, the
// socket handle its inetd mode uses (dcmExternalSocketHandle), read once at the start of
// ASC_receiveAssociation. Setting it and DCMTK's taking of the socket happen under this lock;
// the transport layer below releases it the moment DCMTK wraps the socket, before any TLS
// handshake or PDU read, so a slow peer never holds it.
std::mutex& ExternalSocketMutex() {
  static std::mutex mu;
  return mu;
}

// DCMTK's transport layer (plain TCP or dcmtls), releasing the external-socket lock when DCMTK
// has taken the socket.
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

// An acceptor network without a listening socket of DCMTK's own (the listener owns the port).
OFCondition InitializeAcceptor(int acse_timeout_s, T_ASC_Network** network) {
  std::lock_guard lock(ExternalSocketMutex());
  dcmExternalSocketHandle.set(0);  // >= 0: DCMTK creates no listening socket
  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, acse_timeout_s, network);
  dcmExternalSocketHandle.set(-1);
  return cond;
}

// One port: its listener, its DCMTK network and transport layer.
struct Endpoint {
  bool tls = false;
  T_ASC_Network* network = nullptr;
  std::unique_ptr<PlainLayer> plain;
  std::unique_ptr<TlsLayer> secure;
  AssociationListenerPtr listener;
};

// Reads the A-ASSOCIATE-RQ waiting on `fd` (after the TLS handshake on a TLS endpoint), which
// DCMTK owns from then on. Null (and `fd` closed) when it cannot be read.
AssociationPtr ReceiveOn(Endpoint& endpoint, int fd) {
  T_ASC_Association* raw = nullptr;
  OFCondition cond;
  {
    std::unique_lock lock(ExternalSocketMutex());
    if (endpoint.tls)
      endpoint.secure->held_ = &lock;
    else
      endpoint.plain->held_ = &lock;
    // Never reset afterwards: once the lock is released another receive may have set its own.
    dcmExternalSocketHandle.set(fd);
    cond = ASC_receiveAssociation(endpoint.network, &raw, ASC_MAXIMUMPDUSIZE, nullptr, nullptr,
                                  endpoint.tls ? OFTrue : OFFalse, DUL_BLOCK, 0);
    if (lock.owns_lock()) {  // DCMTK failed before taking the socket
      (endpoint.tls ? endpoint.secure->held_ : endpoint.plain->held_) = nullptr;
    }
  }
  AssociationPtr assoc(raw);
  if (cond.bad()) {
    spdlog::warn("dicom: bad association request{}: {}", endpoint.tls ? " on the TLS port" : "",
                 cond.text());
    if (!assoc)
      ::close(fd);
    return nullptr;
  }
  return assoc;
}

// The calling side of an association, as access rules and the audit see it.
struct Caller {
  std::string aet;
  std::string ip;
  bool may_query = false;  // a configured query/retrieve peer, from an allowed address
};

// "STUDY PatientName=ZHANG* StudyDate=2020" from an identifier: the keys that carry values.
std::string DescribeQuery(const FindQuery& query) {
  std::string out = query.level;
  for (const auto& [tag, value] : query.keys) {
    if (value.empty())
      continue;
    DcmTag dcm_tag(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
    out += ' ';
    out += dcm_tag.getTagName();
    out += '=';
    out += value;
    if (out.size() > 400)
      return out.substr(0, 400) + "...";
  }
  return out;
}

// The distinct studies of `instances`, at most a few dozen named.
std::string DescribeStudies(const std::vector<OutgoingInstance>& instances) {
  std::vector<std::string> studies;
  for (const auto& i : instances) {
    if (std::find(studies.begin(), studies.end(), i.study_instance_uid) == studies.end())
      studies.push_back(i.study_instance_uid);
  }
  std::string out = std::to_string(instances.size()) + " instances of " +
                    std::to_string(studies.size()) + " studies";
  for (size_t i = 0; i < studies.size() && i < 32; ++i) {
    out += i == 0 ? ": " : ",";
    out += studies[i];
  }
  if (studies.size() > 32)
    out += ",...";
  return out;
}

// "3 matches: <StudyInstanceUID>,..." (the UIDs when the query asked for them).
std::string DescribeMatches(const std::vector<FindMatch>& matches) {
  constexpr uint32_t kStudyUid = 0x0020000D;
  std::string out = std::to_string(matches.size()) + " matches";
  size_t named = 0;
  for (const auto& match : matches) {
    for (const auto& [tag, value] : match) {
      if (tag == kStudyUid && !value.empty() && named < 32) {
        out += named++ == 0 ? ": " : ",";
        out += value;
      }
    }
  }
  if (named == 32 && matches.size() > 32)
    out += ",...";
  return out;
}

constexpr Uint16 kNotAuthorized = 0x0124;  // PS3.7 C.5: Refused: Not Authorized

class DicomServerImpl final : public DicomServer {
 public:
  DicomServerImpl(const ScpOptions& options, StoreHandler& handler, FindHandler* find,
                  MoveHandler* move, DimseAuditor* auditor)
      : options_(options), handler_(handler), find_(find), move_(move), auditor_(auditor) {
    for (const auto& ts : kTransferSyntaxes)
      ts_.push_back(ts.c_str());
  }

  ~DicomServerImpl() override { Stop(); }

  Status Start() {
    auto hosts = ParseIpRanges(options_.allowed_hosts);
    if (!hosts.ok())
      return MakeError(ErrorCode::kInvalidArgument, "allowed-hosts: " + hosts.error().message);
    allowed_hosts_ = std::move(hosts.value());
    for (const auto& peer : options_.query_peers) {
      auto from = ParseIpRanges(peer.from);
      if (!from.ok()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "remote AE " + peer.aet + ": " + from.error().message);
      }
      query_peers_.push_back({peer.aet, std::move(from.value())});
    }
    // Names from reverse DNS are neither used nor worth the wait.
    dcmDisableGethostbyaddr.set(OFTrue);
    const int workers = std::max(1, options_.max_associations);
    for (int i = 0; i < workers; ++i)
      workers_.emplace_back([this] { WorkerLoop(); });
    Status started = Ok();
    if (options_.port >= 0)
      started = StartEndpoint(plain_, false, options_.port);
    if (started.ok() && options_.tls_port >= 0)
      started = StartEndpoint(tls_, true, options_.tls_port);
    if (!started.ok()) {
      StopEndpoints();
      StopWorkers();
      return started;
    }
    return Ok();
  }

  int port() const override { return plain_.listener ? plain_.listener->port() : -1; }
  int tls_port() const override { return tls_.listener ? tls_.listener->port() : -1; }

  void Stop() override {
    if (stopped_)
      return;
    stopped_ = true;
    stopping_ = true;
    for (auto* e : {&plain_, &tls_}) {
      if (e->listener)
        e->listener->Stop();
    }
    StopWorkers();
    StopEndpoints();
  }

 private:
  struct AllowedQueryPeer {
    std::string aet;
    std::vector<IpRange> from;
  };

  // A ready connection and the endpoint it came through.
  struct Pending {
    Endpoint* endpoint;
    ReadyConnection connection;
  };

  Status StartEndpoint(Endpoint& e, bool tls, int port) {
    e.tls = tls;
    OFCondition cond = InitializeAcceptor(options_.acse_timeout_s, &e.network);
    if (cond.bad())
      return MakeError(ErrorCode::kUnavailable, std::string("DICOM network: ") + cond.text());
    if (tls) {
      auto layer = MakeTlsLayer();
      if (!layer.ok())
        return layer.error();
      e.secure = std::move(layer.value());
      cond = ASC_setTransportLayer(e.network, e.secure.get(), 0);
    } else {
      e.plain = std::make_unique<PlainLayer>();
      cond = ASC_setTransportLayer(e.network, e.plain.get(), 0);
    }
    if (cond.bad())
      return MakeError(ErrorCode::kInternal, std::string("DICOM transport: ") + cond.text());
    ListenerOptions listen;
    listen.bind = options_.bind;
    listen.port = port;
    listen.request_timeout_s = options_.request_timeout_s;
    listen.max_per_host = options_.max_associations_per_host;
    listen.tls = tls;
    Endpoint* endpoint = &e;
    auto listener = StartAssociationListener(
        listen, [this, endpoint](ReadyConnection c) { Dispatch(*endpoint, std::move(c)); });
    if (!listener.ok())
      return listener.error();
    e.listener = std::move(listener.value());
    spdlog::info("dicom: {} listening on {}:{}{} (max {} associations, {} per host{})",
                 options_.aet, options_.bind, e.listener->port(), tls ? " (TLS)" : "",
                 options_.max_associations, options_.max_associations_per_host,
                 tls && !options_.tls_ca_dir.empty() ? ", client certificates required" : "");
    return Ok();
  }

  // dcmtls with the BCP 195 non-downgrading profile (TLS 1.2+); client certificates required
  // and checked against the CA folder when one is configured.
  Result<std::unique_ptr<TlsLayer>> MakeTlsLayer() const {
    auto layer = std::make_unique<TlsLayer>(NET_ACCEPTOR, nullptr, OFTrue);
    auto fail = [](const std::string& what, const OFCondition& c) {
      return MakeError(ErrorCode::kInvalidArgument, "DICOM TLS: " + what + ": " + c.text());
    };
    OFCondition cond = layer->setTLSProfile(TSP_Profile_BCP195_ND);
    if (cond.good())
      cond = layer->activateCipherSuites();
    if (cond.bad())
      return fail("profile", cond);
    if (layer->setPrivateKeyFile(options_.tls_key.c_str(), DCF_Filetype_PEM).bad())
      return MakeError(ErrorCode::kInvalidArgument,
                       "DICOM TLS: cannot read key " + options_.tls_key);
    if (layer->setCertificateFile(options_.tls_cert.c_str(), DCF_Filetype_PEM).bad()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "DICOM TLS: cannot read certificate " + options_.tls_cert);
    }
    if (!layer->checkPrivateKeyMatchesCertificate()) {
      return MakeError(ErrorCode::kInvalidArgument, "DICOM TLS: key " + options_.tls_key +
                                                        " does not match " + options_.tls_cert);
    }
    if (options_.tls_ca_dir.empty()) {
      layer->setCertificateVerification(DCV_ignoreCertificate);
      return layer;
    }
    int added = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(options_.tls_ca_dir, ec)) {
      const std::string ext = entry.path().extension().string();
      if (ext == ".pem" || ext == ".crt") {
        if (layer->addTrustedCertificateFile(entry.path().c_str(), DCF_Filetype_PEM).good())
          ++added;
      }
    }
    if (ec || added == 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "DICOM TLS: no CA certificate (*.pem, *.crt) in " + options_.tls_ca_dir);
    }
    layer->setCertificateVerification(DCV_requireCertificate);
    return layer;
  }

  void StopEndpoints() {
    for (auto* e : {&plain_, &tls_}) {
      if (e->listener)
        e->listener->Stop();
      e->listener.reset();
      if (e->network != nullptr)
        ASC_dropNetwork(&e->network);
      e->plain.reset();
      e->secure.reset();
    }
  }

  void StopWorkers() {
    {
      std::lock_guard lock(mu_);
      shutdown_workers_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_)
      w.join();
    workers_.clear();
    std::lock_guard lock(mu_);
    for (auto& p : pending_)
      ::close(p->connection.fd);
    pending_.clear();
  }

  // On a listener's thread: a connection whose request is buffered goes to an idle worker, or
  // is refused at once when every worker is busy (the request is read without waiting; on the
  // TLS port, where that would mean a handshake here, the connection is closed).
  void Dispatch(Endpoint& endpoint, ReadyConnection connection) {
    std::unique_lock lock(mu_);
    if (idle_ > pending_.size()) {
      pending_.push_back(std::make_unique<Pending>(Pending{&endpoint, std::move(connection)}));
      lock.unlock();
      cv_.notify_one();
      return;
    }
    lock.unlock();
    if (endpoint.tls) {
      spdlog::warn("dicom: all {} association workers busy; closing TLS connection from {}",
                   options_.max_associations, connection.peer_ip);
      ::close(connection.fd);
      return;
    }
    AssociationPtr assoc = ReceiveOn(endpoint, connection.fd);
    if (!assoc)
      return;
    spdlog::warn("dicom: all {} association workers busy; rejecting '{}' ({})",
                 options_.max_associations, assoc->params->DULparams.callingAPTitle,
                 connection.peer_ip);
    Reject(assoc.get(), ASC_RESULT_REJECTEDTRANSIENT,
           ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED, ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
  }

  void WorkerLoop() {
    for (;;) {
      std::unique_ptr<Pending> pending;
      {
        std::unique_lock lock(mu_);
        ++idle_;
        cv_.wait(lock, [&] { return shutdown_workers_ || !pending_.empty(); });
        --idle_;
        if (pending_.empty() || shutdown_workers_)
          return;
        pending = std::move(pending_.front());
        pending_.pop_front();
      }
      const int fd = pending->connection.fd;
      if (pending->endpoint->tls) {
        // A client that stops mid-handshake holds this worker no longer than the request
        // timeout (DCMTK's handshake blocks on the socket).
        timeval limit{options_.request_timeout_s, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
      }
      AssociationPtr assoc = ReceiveOn(*pending->endpoint, fd);
      pending->connection.fd = -1;  // DCMTK owns it now
      if (!assoc)
        continue;
      if (pending->endpoint->tls) {
        timeval dimse{options_.dimse_timeout_s, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &dimse, sizeof dimse);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &dimse, sizeof dimse);
      }
      Serve(assoc.get(), pending->connection.peer_ip);
    }
  }

  bool MayQuery(const std::string& calling, const std::string& ip) const {
    return std::any_of(query_peers_.begin(), query_peers_.end(), [&](const AllowedQueryPeer& p) {
      return p.aet == calling && AnyContains(p.from, ip);
    });
  }

  // Negotiates, then answers commands until the peer releases or aborts. `peer` is the
  // address the connection came from (never a name).
  void Serve(T_ASC_Association* assoc, const std::string& peer) {
    const std::string calling = assoc->params->DULparams.callingAPTitle;
    const std::string called = assoc->params->DULparams.calledAPTitle;

    if (called != options_.aet) {
      spdlog::warn("dicom: refused '{}' ({}): called AE '{}' is not ours", calling, peer, called);
      return Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                    ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
    }
    if (!options_.allowed_aets.empty() && !Contains(options_.allowed_aets, calling)) {
      spdlog::warn("dicom: refused '{}' ({}): calling AE not allowed", calling, peer);
      return Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                    ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
    }
    if (!allowed_hosts_.empty() && !AnyContains(allowed_hosts_, peer)) {
      spdlog::warn("dicom: refused '{}' ({}): host not allowed", calling, peer);
      return Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                    ASC_REASON_SU_NOREASON);
    }

    const char* verification[] = {UID_VerificationSOPClass};
    OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
        assoc->params, verification, 1, ts_.data(), static_cast<int>(ts_.size()));
    if (cond.good())
      cond = AcceptStorageContexts(assoc->params, ts_);
    if (cond.good() && move_ != nullptr) {
      const char* retrieve_models[] = {UID_MOVEPatientRootQueryRetrieveInformationModel,
                                       UID_MOVEStudyRootQueryRetrieveInformationModel,
                                       UID_GETPatientRootQueryRetrieveInformationModel,
                                       UID_GETStudyRootQueryRetrieveInformationModel};
      const char* uncompressed[] = {UID_LittleEndianExplicitTransferSyntax,
                                    UID_LittleEndianImplicitTransferSyntax,
                                    UID_BigEndianExplicitTransferSyntax};
      cond = ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, retrieve_models, 4,
                                                             uncompressed, 3);
    }
    if (cond.good() && find_ != nullptr) {
      const char* find_models[] = {UID_FINDPatientRootQueryRetrieveInformationModel,
                                   UID_FINDStudyRootQueryRetrieveInformationModel};
      const char* uncompressed[] = {UID_LittleEndianExplicitTransferSyntax,
                                    UID_LittleEndianImplicitTransferSyntax,
                                    UID_BigEndianExplicitTransferSyntax};
      cond = ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, find_models, 2,
                                                             uncompressed, 3);
    }
    if (cond.bad()) {
      spdlog::warn("dicom: negotiation with '{}' failed: {}", calling, cond.text());
      return Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                    ASC_REASON_SU_NOREASON);
    }
    ASC_setAPTitles(assoc->params, nullptr, nullptr, options_.aet.c_str());
    if (ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
      spdlog::warn("dicom: '{}' proposed nothing we accept", calling);
      return Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                    ASC_REASON_SU_NOREASON);
    }
    cond = ASC_acknowledgeAssociation(assoc);
    if (cond.bad()) {
      spdlog::warn("dicom: cannot acknowledge '{}': {}", calling, cond.text());
      return;
    }
    spdlog::debug("dicom: association from '{}' ({}) accepted", calling, peer);
    const Caller caller{calling, peer, MayQuery(calling, peer)};

    int idle_s = 0;
    while (!stopping_) {
      T_ASC_PresentationContextID pres_id = 0;
      T_DIMSE_Message msg{};
      // Wait in one-second steps so a shutdown does not hang on an idle association.
      cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres_id, &msg, nullptr);
      if (cond == DIMSE_NODATAAVAILABLE) {
        if (++idle_s < options_.dimse_timeout_s)
          continue;
        spdlog::warn("dicom: '{}' idle for {} s; aborting association", calling, idle_s);
        ASC_abortAssociation(assoc);
        return;
      }
      idle_s = 0;
      if (cond == DUL_PEERREQUESTEDRELEASE) {
        ASC_acknowledgeRelease(assoc);
        return;
      }
      if (cond == DUL_PEERABORTEDASSOCIATION)
        return;
      if (cond.bad()) {
        spdlog::warn("dicom: association with '{}' ended: {}", calling, cond.text());
        ASC_abortAssociation(assoc);
        return;
      }
      switch (msg.CommandField) {
        case DIMSE_C_ECHO_RQ:
          cond = DIMSE_sendEchoResponse(assoc, pres_id, &msg.msg.CEchoRQ, STATUS_Success, nullptr);
          break;
        case DIMSE_C_STORE_RQ:
          cond = HandleStore(assoc, pres_id, msg.msg.CStoreRQ, calling, peer);
          break;
        case DIMSE_C_MOVE_RQ:
          cond = move_ != nullptr ? HandleMove(assoc, pres_id, msg.msg.CMoveRQ, caller)
                                  : OFCondition(DIMSE_BADCOMMANDTYPE);
          break;
        case DIMSE_C_GET_RQ:
          cond = move_ != nullptr ? HandleGet(assoc, pres_id, msg.msg.CGetRQ, caller)
                                  : OFCondition(DIMSE_BADCOMMANDTYPE);
          break;
        case DIMSE_C_CANCEL_RQ:
          break;  // for an operation already finished: nothing to stop (PS3.7 9.3.2.3)
        case DIMSE_C_FIND_RQ:
          cond = find_ != nullptr ? HandleFind(assoc, pres_id, msg.msg.CFindRQ, caller)
                                  : OFCondition(DIMSE_BADCOMMANDTYPE);
          break;
        default:
          spdlog::warn("dicom: '{}' sent unsupported command 0x{:04x}; aborting", calling,
                       static_cast<unsigned>(msg.CommandField));
          cond = DIMSE_BADCOMMANDTYPE;
          break;
      }
      if (cond.bad()) {
        ASC_abortAssociation(assoc);
        return;
      }
    }
    ASC_abortAssociation(assoc);  // shutting down mid-association
  }

  // Records a query or retrieve; false when it cannot be recorded (the caller then refuses).
  bool Audit(const char* service, const Caller& caller, std::string object, std::string detail) {
    if (auditor_ == nullptr)
      return true;
    Status recorded =
        auditor_->Record({service, caller.aet, caller.ip, std::move(object), std::move(detail)});
    if (!recorded.ok())
      spdlog::error("dicom: {} from '{}' not audited: {}", service, caller.aet,
                    recorded.error().ToString());
    return recorded.ok();
  }

  OFCondition HandleStore(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                          const T_DIMSE_C_StoreRQ& req, const std::string& calling,
                          const std::string& peer) {
    const std::string temp = handler_.NewTempPath();

    // DCMTK writes the File Meta Information header from the request; the dataset itself is
    // appended by a stream that survives a full disk (see TolerantFileConsumer).
    DcmOutputFileStream* raw_meta = nullptr;
    OFCondition cond =
        DIMSE_createFilestream(OFFilename(temp.c_str()), &req, assoc, pres_id, OFTrue, &raw_meta);
    std::unique_ptr<DcmOutputFileStream> meta(raw_meta);
    bool meta_ok = cond.good() && meta && meta->good();
    if (meta) {
      meta->flush();
      meta_ok = meta_ok && meta->good();
      meta.reset();
    }
    std::unique_ptr<TolerantFileStream> stream;
    if (meta_ok)
      stream = std::make_unique<TolerantFileStream>(temp);
    if (!meta_ok || stream->error() != 0) {
      // Cannot even create the file (disk full, permissions): drain the dataset, refuse it.
      stream.reset();
      DIC_UL bytes = 0, pdvs = 0;
      cond = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, options_.dimse_timeout_s, &bytes, &pdvs);
      fs::RemoveQuiet(temp);
      if (cond.bad())
        return cond;
      spdlog::error("dicom: cannot create temp file for C-STORE from '{}'", calling);
      return SendStoreResponse(assoc, pres_id, req, STATUS_STORE_Refused_OutOfResources,
                               "archive cannot create file");
    }
    T_ASC_PresentationContextID data_pres_id = pres_id;
    cond = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, options_.dimse_timeout_s,
                                      &data_pres_id, stream.get(), nullptr, nullptr);
    const int write_error = stream->error();
    stream.reset();  // close the file before anyone reads it
    if (cond.bad()) {
      // The association broke mid-dataset: nothing was acknowledged, so nothing may remain.
      fs::RemoveQuiet(temp);
      spdlog::warn("dicom: C-STORE from '{}' interrupted: {}", calling, cond.text());
      return cond;
    }
    if (write_error != 0) {
      fs::RemoveQuiet(temp);
      Error error = fs::ErrnoError(write_error, "write");
      spdlog::error("dicom: C-STORE {} from '{}' not stored: {}", req.AffectedSOPInstanceUID,
                    calling, error.message);
      return SendStoreResponse(assoc, pres_id, req, error.DicomStatus(), error.message);
    }
    StoreRequest request{calling, peer, req.AffectedSOPClassUID, req.AffectedSOPInstanceUID};
    Status status = handler_.Store(request, temp);
    if (status.ok())
      return SendStoreResponse(assoc, pres_id, req, STATUS_Success, "");
    spdlog::warn("dicom: C-STORE {} from '{}' refused: {}", req.AffectedSOPInstanceUID, calling,
                 status.error().ToString());
    return SendStoreResponse(assoc, pres_id, req, status.error().DicomStatus(),
                             status.error().message);
  }

  // The identifier of a C-FIND/C-MOVE in dxhub terms; `failure` is set when it cannot be used.
  static void ParseIdentifier(DcmDataset& identifier, const char* sop_class, const Caller& caller,
                              FindQuery& query, Uint16& failure, std::string& failure_comment) {
    query.sop_class_uid = sop_class;
    query.calling_aet = caller.aet;
    query.peer_ip = caller.ip;
    if (identifier.tagExists(DCM_SpecificCharacterSet) && identifier.convertToUTF8().bad()) {
      failure = STATUS_FIND_Failed_UnableToProcess;
      failure_comment = "identifier character set cannot be converted";
    }
    OFString level;
    identifier.findAndGetOFString(DCM_QueryRetrieveLevel, level);
    query.level = level;
    for (unsigned long i = 0; i < identifier.card(); ++i) {
      DcmElement* element = identifier.getElement(i);
      const DcmTagKey key = element->getTag();
      if (key == DCM_QueryRetrieveLevel || key == DCM_SpecificCharacterSet ||
          element->ident() == EVR_SQ) {
        continue;  // sequence matching is not supported; such keys are left out of answers
      }
      OFString value;
      element->getOFStringArray(value);
      query.keys.emplace_back((static_cast<uint32_t>(key.getGroup()) << 16) | key.getElement(),
                              value.c_str());
    }
  }

  // Receives the identifier of a C-FIND/C-MOVE and parses it; a bad condition means the
  // association broke, `failure` that the identifier cannot be used.
  OFCondition ReceiveIdentifier(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                const char* sop_class, const Caller& caller, FindQuery& query,
                                Uint16& failure, std::string& comment) const {
    DcmDataset* raw = nullptr;
    T_ASC_PresentationContextID data_pres_id = pres_id;
    OFCondition cond = DIMSE_receiveDataSetInMemory(
        assoc, DIMSE_NONBLOCKING, options_.dimse_timeout_s, &data_pres_id, &raw, nullptr, nullptr);
    std::unique_ptr<DcmDataset> identifier(raw);
    if (cond.good())
      ParseIdentifier(*identifier, sop_class, caller, query, failure, comment);
    return cond;
  }

  OFCondition HandleMove(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                         const T_DIMSE_C_MoveRQ& req, const Caller& caller) {
    const std::string& calling = caller.aet;
    FindQuery query;
    Uint16 failure = 0;
    std::string comment;
    OFCondition cond =
        ReceiveIdentifier(assoc, pres_id, req.AffectedSOPClassUID, caller, query, failure, comment);
    if (cond.bad())
      return cond;
    if (failure != 0)
      return SendMoveResponse(assoc, pres_id, req, failure, {}, 0, comment);
    if (!caller.may_query) {
      spdlog::warn("dicom: C-MOVE from '{}' ({}) refused: not a query/retrieve peer", calling,
                   caller.ip);
      Audit("C-MOVE", caller, DescribeQuery(query),
            "refused: not a configured query/retrieve "
            "peer from this address");
      return SendMoveResponse(assoc, pres_id, req, kNotAuthorized, {}, 0,
                              "calling AE/address may not retrieve");
    }

    auto destination = move_->Destination(req.MoveDestination);
    if (!destination) {
      spdlog::warn("dicom: C-MOVE from '{}' to unknown destination '{}'", calling,
                   req.MoveDestination);
      return SendMoveResponse(assoc, pres_id, req, STATUS_MOVE_Refused_MoveDestinationUnknown, {},
                              0, "move destination unknown");
    }
    auto instances = move_->Resolve(query);
    if (!instances.ok()) {
      Audit("C-MOVE", caller, DescribeQuery(query), "failed: " + instances.error().message);
      return SendMoveResponse(assoc, pres_id, req, instances.error().DicomStatus(), {}, 0,
                              instances.error().message);
    }
    if (!Audit("C-MOVE", caller, DescribeQuery(query),
               "to " + std::string(req.MoveDestination) + ": " + DescribeStudies(*instances))) {
      return SendMoveResponse(assoc, pres_id, req, STATUS_MOVE_Refused_OutOfResourcesSubOperations,
                              {}, 0, "audit log unavailable");
    }
    const int total = static_cast<int>(instances->size());
    auto sent = SendInstances(
        *destination, options_.aet, *instances,
        [&](const SendResult& progress) {
          if (DIMSE_checkForCancelRQ(assoc, pres_id, req.MessageID).good())
            return false;
          int done = progress.completed + progress.failed + progress.warning;
          if (done < total) {
            SendMoveResponse(assoc, pres_id, req, STATUS_MOVE_Pending_SubOperationsAreContinuing,
                             progress, total - done, "");
          }
          return true;
        },
        calling, req.MessageID);
    if (!sent.ok()) {
      spdlog::warn("dicom: C-MOVE to '{}': {}", req.MoveDestination, sent.error().message);
      return SendMoveResponse(assoc, pres_id, req, STATUS_MOVE_Refused_OutOfResourcesSubOperations,
                              {}, 0, sent.error().message);
    }
    const int done = sent->completed + sent->failed + sent->warning;
    const Uint16 status = FinalRetrieveStatus(*sent, total);
    spdlog::info("dicom: C-MOVE from '{}' to '{}': {} sent, {} failed{}", calling,
                 req.MoveDestination, sent->completed + sent->warning, sent->failed,
                 sent->cancelled ? ", cancelled" : "");
    return SendMoveResponse(assoc, pres_id, req, status, *sent, total - done, "");
  }

  // C-GET: the matching instances go back over this association as C-STORE sub-operations, on
  // the storage contexts the requestor proposed with the SCP role.
  OFCondition HandleGet(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                        const T_DIMSE_C_GetRQ& req, const Caller& caller) {
    const std::string& calling = caller.aet;
    FindQuery query;
    Uint16 failure = 0;
    std::string comment;
    OFCondition cond =
        ReceiveIdentifier(assoc, pres_id, req.AffectedSOPClassUID, caller, query, failure, comment);
    if (cond.bad())
      return cond;
    if (failure != 0)
      return SendGetResponse(assoc, pres_id, req, failure, {}, 0, comment);
    if (!caller.may_query) {
      spdlog::warn("dicom: C-GET from '{}' ({}) refused: not a query/retrieve peer", calling,
                   caller.ip);
      Audit("C-GET", caller, DescribeQuery(query),
            "refused: not a configured query/retrieve "
            "peer from this address");
      return SendGetResponse(assoc, pres_id, req, kNotAuthorized, {}, 0,
                             "calling AE/address may not retrieve");
    }
    auto instances = move_->Resolve(query);
    if (!instances.ok()) {
      Audit("C-GET", caller, DescribeQuery(query), "failed: " + instances.error().message);
      return SendGetResponse(assoc, pres_id, req, instances.error().DicomStatus(), {}, 0,
                             instances.error().message);
    }
    if (!Audit("C-GET", caller, DescribeQuery(query), "sending " + DescribeStudies(*instances))) {
      return SendGetResponse(assoc, pres_id, req, STATUS_GET_Refused_OutOfResourcesSubOperations,
                             {}, 0, "audit log unavailable");
    }
    const int total = static_cast<int>(instances->size());
    SendResult sent;
    for (const auto& instance : *instances) {
      if (DIMSE_checkForCancelRQ(assoc, pres_id, req.MessageID).good()) {
        sent.cancelled = true;
        break;
      }
      bool cancelled = false;
      cond = StoreSubOperation(assoc, instance, calling, sent, cancelled);
      if (cond.bad())
        return cond;  // the association is gone
      if (cancelled) {
        sent.cancelled = true;
        break;
      }
      const int done = sent.completed + sent.failed + sent.warning;
      if (done < total) {
        cond = SendGetResponse(assoc, pres_id, req, STATUS_GET_Pending_SubOperationsAreContinuing,
                               sent, total - done, "");
        if (cond.bad())
          return cond;
      }
    }
    const int done = sent.completed + sent.failed + sent.warning;
    spdlog::info("dicom: C-GET from '{}': {} sent, {} failed{}", calling,
                 sent.completed + sent.warning, sent.failed, sent.cancelled ? ", cancelled" : "");
    return SendGetResponse(assoc, pres_id, req, FinalRetrieveStatus(sent, total), sent,
                           total - done, "");
  }

  // The accepted storage context on which we may send `instance` to the requestor (which took
  // the SCP role for its SOP class): the stored encoding if accepted, else an uncompressed one,
  // which means decoding (`decode`). 0 when there is none.
  static T_ASC_PresentationContextID ContextForGet(T_ASC_Association* assoc,
                                                   const OutgoingInstance& instance, bool& decode) {
    T_ASC_PresentationContextID fallback = 0;
    const int count = ASC_countAcceptedPresentationContexts(assoc->params);
    for (int i = 0; i < ASC_countPresentationContexts(assoc->params) && count > 0; ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(assoc->params, i, &pc).bad() ||
          pc.resultReason != ASC_P_ACCEPTANCE || instance.sop_class_uid != pc.abstractSyntax ||
          (pc.acceptedRole != ASC_SC_ROLE_SCP && pc.acceptedRole != ASC_SC_ROLE_SCUSCP)) {
        continue;
      }
      if (instance.transfer_syntax_uid == pc.acceptedTransferSyntax) {
        decode = false;
        return pc.presentationContextID;
      }
      if (fallback == 0 && IsUncompressedSyntax(pc.acceptedTransferSyntax))
        fallback = pc.presentationContextID;
    }
    decode = fallback != 0 && !IsUncompressedSyntax(instance.transfer_syntax_uid);
    return fallback;
  }

  // One C-STORE sub-operation of a C-GET, counted into `sent`. A bad condition means the
  // association broke; `cancelled` that a C-CANCEL arrived while it ran.
  OFCondition StoreSubOperation(T_ASC_Association* assoc, const OutgoingInstance& instance,
                                const std::string& calling, SendResult& sent,
                                bool& cancelled) const {
    auto fail = [&](const std::string& why) {
      ++sent.failed;
      sent.failed_uids.push_back(instance.sop_instance_uid);
      spdlog::warn("dicom: C-GET sub-operation {} for '{}' failed: {}", instance.sop_instance_uid,
                   calling, why);
      return EC_Normal;
    };
    bool decode = false;
    const T_ASC_PresentationContextID pc = ContextForGet(assoc, instance, decode);
    if (pc == 0)
      return fail("no storage context with the SCP role for its SOP class and encoding");
    std::unique_ptr<DcmFileFormat> decoded;
    if (decode) {
      auto loaded = LoadDecompressed(instance.path);
      if (!loaded.ok())
        return fail(loaded.error().message);
      decoded = std::move(loaded.value());
    }
    T_DIMSE_C_StoreRQ store{};
    store.MessageID = assoc->nextMsgID++;
    OFStandard::strlcpy(store.AffectedSOPClassUID, instance.sop_class_uid.c_str(),
                        sizeof store.AffectedSOPClassUID);
    OFStandard::strlcpy(store.AffectedSOPInstanceUID, instance.sop_instance_uid.c_str(),
                        sizeof store.AffectedSOPInstanceUID);
    store.Priority = DIMSE_PRIORITY_MEDIUM;
    store.DataSetType = DIMSE_DATASET_PRESENT;
    T_DIMSE_C_StoreRSP rsp{};
    DcmDataset* raw_detail = nullptr;
    T_DIMSE_DetectedCancelParameters cancel{};
    OFCondition cond =
        DIMSE_storeUser(assoc, pc, &store, decoded ? nullptr : instance.path.c_str(),
                        decoded ? decoded->getDataset() : nullptr, nullptr, nullptr,
                        DIMSE_NONBLOCKING, options_.dimse_timeout_s, &rsp, &raw_detail, &cancel);
    std::unique_ptr<DcmDataset> detail(raw_detail);
    cancelled = cancel.cancelEncountered != OFFalse;
    if (cond.bad()) {
      fail(cond.text());
      return cond;
    }
    if (rsp.DimseStatus == STATUS_Success) {
      ++sent.completed;
    } else if ((rsp.DimseStatus & 0xF000) == 0xB000) {
      ++sent.warning;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%04x", rsp.DimseStatus);
      fail(std::string("requestor answered ") + hex);
    }
    return EC_Normal;
  }

  static OFCondition SendGetResponse(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                     const T_DIMSE_C_GetRQ& req, Uint16 status,
                                     const SendResult& counts, int remaining,
                                     const std::string& comment) {
    T_DIMSE_C_GetRSP rsp{};
    rsp.MessageIDBeingRespondedTo = req.MessageID;
    rsp.DimseStatus = status;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.NumberOfRemainingSubOperations = static_cast<DIC_US>(remaining);
    rsp.NumberOfCompletedSubOperations = static_cast<DIC_US>(counts.completed);
    rsp.NumberOfFailedSubOperations = static_cast<DIC_US>(counts.failed);
    rsp.NumberOfWarningSubOperations = static_cast<DIC_US>(counts.warning);
    rsp.opts = O_GET_AFFECTEDSOPCLASSUID | O_GET_NUMBEROFREMAININGSUBOPERATIONS |
               O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS | O_GET_NUMBEROFFAILEDSUBOPERATIONS |
               O_GET_NUMBEROFWARNINGSUBOPERATIONS;
    std::unique_ptr<DcmDataset> failed_list = FailedList(counts, status);
    rsp.DataSetType = failed_list ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    std::unique_ptr<DcmDataset> detail = CommentDetail(comment);
    return DIMSE_sendGetResponse(assoc, pres_id, &req, &rsp, failed_list.get(), detail.get());
  }

  // The Failed SOP Instance UID List of a final C-MOVE/C-GET response, or null.
  static std::unique_ptr<DcmDataset> FailedList(const SendResult& counts, Uint16 status) {
    if (counts.failed_uids.empty() || status == STATUS_MOVE_Pending_SubOperationsAreContinuing)
      return nullptr;
    std::string joined;
    for (const auto& uid : counts.failed_uids)
      joined += (joined.empty() ? "" : "\\") + uid;
    auto list = std::make_unique<DcmDataset>();
    list->putAndInsertString(DCM_FailedSOPInstanceUIDList, joined.c_str());
    return list;
  }

  static std::unique_ptr<DcmDataset> CommentDetail(const std::string& comment) {
    if (comment.empty())
      return nullptr;
    auto detail = std::make_unique<DcmDataset>();
    detail->putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
    return detail;
  }

  static OFCondition SendMoveResponse(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                      const T_DIMSE_C_MoveRQ& req, Uint16 status,
                                      const SendResult& counts, int remaining,
                                      const std::string& comment) {
    T_DIMSE_C_MoveRSP rsp{};
    rsp.MessageIDBeingRespondedTo = req.MessageID;
    rsp.DimseStatus = status;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.NumberOfRemainingSubOperations = static_cast<DIC_US>(remaining);
    rsp.NumberOfCompletedSubOperations = static_cast<DIC_US>(counts.completed);
    rsp.NumberOfFailedSubOperations = static_cast<DIC_US>(counts.failed);
    rsp.NumberOfWarningSubOperations = static_cast<DIC_US>(counts.warning);
    rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID | O_MOVE_NUMBEROFREMAININGSUBOPERATIONS |
               O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS | O_MOVE_NUMBEROFFAILEDSUBOPERATIONS |
               O_MOVE_NUMBEROFWARNINGSUBOPERATIONS;
    std::unique_ptr<DcmDataset> failed_list = FailedList(counts, status);
    rsp.DataSetType = failed_list ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    std::unique_ptr<DcmDataset> detail = CommentDetail(comment);
    return DIMSE_sendMoveResponse(assoc, pres_id, &req, &rsp, failed_list.get(), detail.get());
  }

  OFCondition HandleFind(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                         const T_DIMSE_C_FindRQ& req, const Caller& caller) {
    const std::string& calling = caller.aet;
    FindQuery query;
    Uint16 failure = 0;
    std::string failure_comment;
    OFCondition cond = ReceiveIdentifier(assoc, pres_id, req.AffectedSOPClassUID, caller, query,
                                         failure, failure_comment);
    if (cond.bad())
      return cond;
    if (failure == 0 && !caller.may_query) {
      spdlog::warn("dicom: C-FIND from '{}' ({}) refused: not a query/retrieve peer", calling,
                   caller.ip);
      Audit("C-FIND", caller, DescribeQuery(query),
            "refused: not a configured query/retrieve peer from this address");
      failure = kNotAuthorized;
      failure_comment = "calling AE/address may not query";
    }
    std::vector<FindMatch> matches;
    if (failure == 0) {
      auto found = find_->Find(query);
      if (found.ok()) {
        matches = std::move(found.value());
        if (!Audit("C-FIND", caller, DescribeQuery(query), DescribeMatches(matches))) {
          matches.clear();
          failure = STATUS_FIND_Refused_OutOfResources;
          failure_comment = "audit log unavailable";
        }
      } else {
        failure = found.error().DicomStatus();
        failure_comment = found.error().message;
        Audit("C-FIND", caller, DescribeQuery(query), "failed: " + found.error().message);
        spdlog::warn("dicom: C-FIND from '{}' refused: {}", calling, found.error().ToString());
      }
    }
    for (const auto& match : matches) {
      if (DIMSE_checkForCancelRQ(assoc, pres_id, req.MessageID).good()) {
        return SendFindResponse(assoc, pres_id, req, STATUS_FIND_Cancel, nullptr, "");
      }
      DcmDataset answer;
      answer.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
      answer.putAndInsertString(DCM_QueryRetrieveLevel, query.level.c_str());
      for (const auto& [tag, value] : match) {
        answer.putAndInsertString(
            DcmTag(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF)),
            value.c_str());
      }
      cond = SendFindResponse(assoc, pres_id, req, STATUS_FIND_Pending_MatchesAreContinuing,
                              &answer, "");
      if (cond.bad())
        return cond;
    }
    if (failure != 0) {
      return SendFindResponse(assoc, pres_id, req, failure, nullptr, failure_comment);
    }
    spdlog::debug("dicom: C-FIND {} from '{}': {} matches", query.level, calling, matches.size());
    return SendFindResponse(assoc, pres_id, req, STATUS_FIND_Success, nullptr, "");
  }

  static OFCondition SendFindResponse(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                      const T_DIMSE_C_FindRQ& req, Uint16 status,
                                      DcmDataset* identifier, const std::string& comment) {
    T_DIMSE_C_FindRSP rsp{};
    rsp.MessageIDBeingRespondedTo = req.MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = identifier != nullptr ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
    if (comment.empty())
      return DIMSE_sendFindResponse(assoc, pres_id, &req, &rsp, identifier, nullptr);
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
    return DIMSE_sendFindResponse(assoc, pres_id, &req, &rsp, identifier, &detail);
  }

  static OFCondition SendStoreResponse(T_ASC_Association* assoc,
                                       T_ASC_PresentationContextID pres_id,
                                       const T_DIMSE_C_StoreRQ& req, Uint16 status,
                                       const std::string& comment) {
    T_DIMSE_C_StoreRSP rsp{};
    rsp.MessageIDBeingRespondedTo = req.MessageID;
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                        sizeof rsp.AffectedSOPClassUID);
    OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, req.AffectedSOPInstanceUID,
                        sizeof rsp.AffectedSOPInstanceUID);
    rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    if (comment.empty())
      return DIMSE_sendStoreResponse(assoc, pres_id, &req, &rsp, nullptr);
    // Status detail elements go into the response command set; ErrorComment is LO (64 chars).
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
    return DIMSE_sendStoreResponse(assoc, pres_id, &req, &rsp, &detail);
  }

  ScpOptions options_;
  StoreHandler& handler_;
  FindHandler* find_;      // may be null
  MoveHandler* move_;      // may be null
  DimseAuditor* auditor_;  // may be null
  std::vector<IpRange> allowed_hosts_;
  std::vector<AllowedQueryPeer> query_peers_;
  std::vector<const char*> ts_;
  Endpoint plain_;
  Endpoint tls_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::vector<std::thread> workers_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_: connections with a buffered request, waiting for a worker.
  std::deque<std::unique_ptr<Pending>> pending_;
  size_t idle_ = 0;                // guarded by mu_: workers waiting for work
  bool shutdown_workers_ = false;  // guarded by mu_
};

}  // namespace

const std::vector<std::string>& AcceptedTransferSyntaxes() {
  return kTransferSyntaxes;
}

std::vector<std::string> AcceptedStorageSopClasses() {
  std::vector<std::string> out;
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) {
    if (dcmIsaStorageSOPClassUID(dcmAllStorageSOPClassUIDs[i], ESSC_All))
      out.emplace_back(dcmAllStorageSOPClassUIDs[i]);
  }
  return out;
}

const std::vector<std::string>& AcceptedServiceSopClasses() {
  static const std::vector<std::string> kClasses = {
      UID_VerificationSOPClass,
      UID_FINDPatientRootQueryRetrieveInformationModel,
      UID_FINDStudyRootQueryRetrieveInformationModel,
      UID_MOVEPatientRootQueryRetrieveInformationModel,
      UID_MOVEStudyRootQueryRetrieveInformationModel,
      UID_GETPatientRootQueryRetrieveInformationModel,
      UID_GETStudyRootQueryRetrieveInformationModel};
  return kClasses;
}

const std::vector<std::string>& AcceptedCommandTransferSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {UID_LittleEndianExplicitTransferSyntax,
                                                     UID_LittleEndianImplicitTransferSyntax,
                                                     UID_BigEndianExplicitTransferSyntax};
  return kSyntaxes;
}

Result<DicomServerPtr> StartDicomServer(const ScpOptions& options, StoreHandler& handler,
                                        FindHandler* find, MoveHandler* move,
                                        DimseAuditor* auditor) {
  auto server = std::make_unique<DicomServerImpl>(options, handler, find, move, auditor);
  DXHUB_TRY(server->Start());
  return DicomServerPtr(std::move(server));
}

}  // namespace dxhub::dicom
