// The DIMSE SCP: a bounded pool of association workers fed by the AssociationListeners of the
// plain and TLS ports. The parts live under scp/: the transport (how DCMTK takes over an
// accepted socket), negotiation (who may associate, which contexts are accepted), and one file
// per service.
//
// Why DCMTK's association (ASC) and message (DIMSE) layers, not DcmSCP/DcmSCPPool: their
// presentation-context profile holds at most 128 abstract syntaxes, fewer than the ~170 storage
// SOP classes an archive must accept. The lower layer lets us accept every storage SOP class, as
// storescp and Orthanc do, and own the worker pool: a fixed number of association workers; an
// association arriving when all are busy is rejected at once ("local limit exceeded") instead
// of waiting in a queue forever.

#include "dicom/store_scp.h"

#include <dcmtk/dcmnet/diutil.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "core/thread_priority.h"
#include "dicom/association_listener.h"
#include "dicom/scp/negotiation.h"
#include "dicom/scp/services.h"
#include "dicom/scp/transport.h"

namespace dxhub::dicom {
namespace {

using scp::AssociationPtr;
using scp::Endpoint;

void SetSocketTimeouts(int fd, int seconds) {
  timeval limit{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
}

class DicomServerImpl final : public DicomServer {
 public:
  DicomServerImpl(const ScpOptions& options, StoreHandler& handler, FindHandler* find,
                  MoveHandler* move, DimseAuditor* auditor)
      : options_(options), handler_(handler), find_(find), move_(move), auditor_(auditor) {}

  ~DicomServerImpl() override { Stop(); }
  DicomServerImpl(const DicomServerImpl&) = delete;
  DicomServerImpl& operator=(const DicomServerImpl&) = delete;

  Status Start() {
    auto rules = scp::AccessRules::From(options_);
    if (!rules.ok())
      return rules.error();
    rules_ = std::make_shared<const scp::AccessRules>(std::move(rules.value()));
    // Names from reverse DNS are neither used nor worth the wait.
    dcmDisableGethostbyaddr.set(OFTrue);
    const int workers = std::max(1, options_.max_associations);
    for (int i = 0; i < workers; ++i)
      workers_.emplace_back([this] {
        NameThisThread("dimse");
        WorkerLoop();
      });
    Status started = Ok();
    if (options_.port >= 0)
      started = StartEndpoint(plain_, false, options_.port);
    if (started.ok() && options_.tls_port >= 0)
      started = StartEndpoint(tls_, true, options_.tls_port);
    if (!started.ok()) {
      StopWorkers();
      plain_.Close();
      tls_.Close();
      return started;
    }
    return Ok();
  }

  int port() const override { return plain_.port(); }
  int tls_port() const override { return tls_.port(); }

  Status ReloadTls() override {
    if (tls_.port() < 0)
      return Ok();
    DXHUB_TRY(tls_.ReloadTls(options_));
    spdlog::info("dicom: TLS certificate reloaded from {}", options_.tls_cert);
    return Ok();
  }

  Status SetQueryPeers(std::vector<QueryPeer> peers) override {
    ScpOptions next = options_;
    next.query_peers = std::move(peers);
    auto rules = scp::AccessRules::From(next);
    if (!rules.ok())
      return rules.error();
    std::lock_guard lock(rules_mu_);
    rules_ = std::make_shared<const scp::AccessRules>(std::move(rules.value()));
    return Ok();
  }

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
    plain_.Close();
    tls_.Close();
  }

 private:
  // A ready connection and the endpoint it came through.
  struct Pending {
    Endpoint* endpoint;
    ReadyConnection connection;
  };

  Status StartEndpoint(Endpoint& e, bool tls, int port) {
    DXHUB_TRY(e.Open(tls, options_));
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
                 options_.aet, options_.bind, e.port(), tls ? " (TLS)" : "",
                 options_.max_associations, options_.max_associations_per_host,
                 tls && !options_.tls_ca_dir.empty() ? ", client certificates required" : "");
    return Ok();
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
    if (endpoint.tls()) {
      spdlog::warn("dicom: all {} association workers busy; closing TLS connection from {}",
                   options_.max_associations, connection.peer_ip);
      ::close(connection.fd);
      return;
    }
    AssociationPtr assoc = endpoint.Receive(connection.fd);
    if (!assoc)
      return;
    spdlog::warn("dicom: all {} association workers busy; rejecting '{}' ({})",
                 options_.max_associations, assoc->params->DULparams.callingAPTitle,
                 connection.peer_ip);
    scp::Reject(assoc.get(), ASC_RESULT_REJECTEDTRANSIENT,
                ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
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
      const bool tls = pending->endpoint->tls();
      // A client that stops mid-handshake holds this worker no longer than the request
      // timeout (DCMTK's handshake blocks on the socket).
      if (tls)
        SetSocketTimeouts(fd, options_.request_timeout_s);
      AssociationPtr assoc = pending->endpoint->Receive(fd);
      pending->connection.fd = -1;  // DCMTK owns it now
      if (!assoc)
        continue;
      if (tls)
        SetSocketTimeouts(fd, options_.dimse_timeout_s);
      Serve(assoc.get(), pending->connection.peer_ip);
    }
  }

  // Negotiates, then answers commands until the peer releases or aborts. `peer` is the
  // address the connection came from (never a name).
  void Serve(T_ASC_Association* assoc, const std::string& peer) {
    // The rules as they are now: an association keeps what it was admitted under.
    std::shared_ptr<const scp::AccessRules> rules;
    {
      std::lock_guard lock(rules_mu_);
      rules = rules_;
    }
    if (!scp::Negotiate(assoc, peer, options_, *rules, {find_ != nullptr, move_ != nullptr}))
      return;
    const std::string calling = assoc->params->DULparams.callingAPTitle;
    scp::ServiceContext ctx{
        assoc, options_, auditor_, {calling, peer, rules->MayQuery(calling, peer)}};
    int idle_s = 0;
    while (!stopping_) {
      T_ASC_PresentationContextID pres_id = 0;
      T_DIMSE_Message msg{};
      // Wait in one-second steps so a shutdown does not hang on an idle association.
      OFCondition cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres_id, &msg, nullptr);
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
      cond = Dispatch(ctx, pres_id, msg);
      if (cond.bad()) {
        ASC_abortAssociation(assoc);
        return;
      }
    }
    ASC_abortAssociation(assoc);  // shutting down mid-association
  }

  // One command to its service. Services not offered were not negotiated either; a peer that
  // sends one anyway is aborted.
  OFCondition Dispatch(scp::ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_Message& msg) {
    switch (msg.CommandField) {
      case DIMSE_C_ECHO_RQ:
        return DIMSE_sendEchoResponse(ctx.assoc, pres_id, &msg.msg.CEchoRQ, STATUS_Success,
                                      nullptr);
      case DIMSE_C_STORE_RQ:
        return scp::ServeStore(ctx, handler_, pres_id, msg.msg.CStoreRQ);
      case DIMSE_C_FIND_RQ:
        return find_ != nullptr ? scp::ServeFind(ctx, *find_, pres_id, msg.msg.CFindRQ)
                                : OFCondition(DIMSE_BADCOMMANDTYPE);
      case DIMSE_C_MOVE_RQ:
        return move_ != nullptr ? scp::ServeMove(ctx, *move_, pres_id, msg.msg.CMoveRQ)
                                : OFCondition(DIMSE_BADCOMMANDTYPE);
      case DIMSE_C_GET_RQ:
        return move_ != nullptr ? scp::ServeGet(ctx, *move_, pres_id, msg.msg.CGetRQ)
                                : OFCondition(DIMSE_BADCOMMANDTYPE);
      case DIMSE_C_CANCEL_RQ:
        return EC_Normal;  // for an operation already finished: nothing to stop (PS3.7 9.3.2.3)
      default:
        spdlog::warn("dicom: '{}' sent unsupported command 0x{:04x}; aborting", ctx.caller.aet,
                     static_cast<unsigned>(msg.CommandField));
        return DIMSE_BADCOMMANDTYPE;
    }
  }

  ScpOptions options_;
  StoreHandler& handler_;
  FindHandler* find_;      // may be null
  MoveHandler* move_;      // may be null
  DimseAuditor* auditor_;  // may be null
  std::mutex rules_mu_;
  std::shared_ptr<const scp::AccessRules> rules_;  // guarded by rules_mu_; replaced, never changed
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

Result<DicomServerPtr> StartDicomServer(const ScpOptions& options, StoreHandler& handler,
                                        FindHandler* find, MoveHandler* move,
                                        DimseAuditor* auditor) {
  auto server = std::make_unique<DicomServerImpl>(options, handler, find, move, auditor);
  DXHUB_TRY(server->Start());
  return DicomServerPtr(std::move(server));
}

}  // namespace dxhub::dicom
