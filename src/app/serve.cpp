#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "ai/model_registry.h"
#include "ai/pipeline.h"
#include "app/commands.h"
#include "app/find_index.h"
#include "app/node_heartbeat.h"
#include "core/clock.h"
#include "core/net.h"
#include "core/periodic.h"
#include "dicom/store_scp.h"
#include "imaging/processing.h"
#include "store/archive.h"
#include "store/audit_syslog.h"
#include "store/peer_directory.h"
#include "store/sql/postgres_database.h"
#include "web/auth.h"
#include "web/http_server.h"

namespace dxhub::app {
namespace {

store::TurnaroundTargets ReadTargets(const Config& config) {
  store::TurnaroundTargets t;
  t.stat_ms = int64_t{config.read_turnaround_stat_min} * 60 * 1000;
  t.urgent_ms = int64_t{config.read_turnaround_urgent_min} * 60 * 1000;
  t.routine_ms = int64_t{config.read_turnaround_routine_min} * 60 * 1000;
  return t;
}

// Clinics' standing read requests are opened for studies that became complete within this long:
// a node that was down for less catches up on start.
constexpr int64_t kReadRuleWindowMs = int64_t{7} * 24 * 3600 * 1000;
constexpr std::chrono::seconds kReadRuleSweep{5};

// Connects the DIMSE SCP to the archive's ingest path.
class ScpIngest final : public dicom::StoreHandler {
 public:
  explicit ScpIngest(store::Archive& archive) : archive_(archive) {}
  std::string NewTempPath() override { return archive_.NewTempPath(); }
  Status Store(const dicom::StoreRequest& request, const std::string& temp_path,
               const std::shared_ptr<const std::string>& contents) override {
    auto outcome = archive_.Ingest(temp_path,
                                   store::IngestContext{request.calling_aet,
                                                        request.sop_instance_uid,
                                                        request.sop_class_uid,
                                                        false,
                                                        {0, request.calling_aet, request.peer_ip}},
                                   contents);
    if (!outcome.ok())
      return outcome.error();
    if (outcome->kind == store::IngestKind::kDuplicate) {
      spdlog::debug("dicom: duplicate {} from '{}' kept as first received",
                    request.sop_instance_uid, request.calling_aet);
    }
    return Ok();
  }

 private:
  store::Archive& archive_;
};

// DIMSE queries and retrieves into the same audit log as HTTP reads: the calling AE title in
// place of a user name, the service as the action.
class DimseAudit final : public dicom::DimseAuditor {
 public:
  DimseAudit(store::UserStore& users, const Clock& clock) : users_(users), clock_(clock) {}
  Status Record(const dicom::DimseEvent& e) override {
    return users_.Audit({clock_.NowMillis(), e.calling_aet, e.service, e.object.substr(0, 512),
                         e.peer_ip, e.detail.substr(0, 4096)});
  }

 private:
  store::UserStore& users_;
  const Clock& clock_;
};

// The addresses a query peer must come from: those configured, else what its host name
// resolves to now (forward lookup of a name the operator chose; never the peer's PTR record).
std::vector<std::string> QueryPeerAddresses(const RemoteAe& ae) {
  if (!ae.from.empty())
    return ae.from;
  if (IsIpAddress(ae.host))
    return {ae.host};
  std::vector<std::string> out;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(ae.host.c_str(), nullptr, &hints, &found) == 0) {
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* addr =
          a->ai_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if (::inet_ntop(a->ai_family, addr, text, sizeof text) != nullptr &&
          std::find(out.begin(), out.end(), text) == out.end()) {
        out.emplace_back(text);
      }
    }
    ::freeaddrinfo(found);
  }
  if (out.empty())
    spdlog::warn("dicom: query peer {} ({}) resolves to no address; it cannot query", ae.name,
                 ae.host);
  return out;
}

// Who may query and retrieve, from the peer directory. Host names are looked up again each
// time the directory changes.
std::vector<dicom::QueryPeer> QueryPeers(const store::PeerDirectory::Snapshot& peers) {
  std::vector<dicom::QueryPeer> out;
  for (const auto& ae : peers.remote_aes) {
    if (ae.query)
      out.push_back({ae.aet, QueryPeerAddresses(ae)});
  }
  return out;
}

// How soon a peer added on another node is known here.
constexpr std::chrono::milliseconds kPeerRefresh{5000};

}  // namespace

int RunServe(const Config& config) {
  // Block the termination signals before any thread starts so only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload the TLS certificates (HTTPS and DICOM)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Patient data and passwords never cross a network in clear text: beyond loopback, dxhub
  // serves TLS itself or sits behind a TLS-terminating proxy it was told about.
  const bool loopback =
      config.bind == "127.0.0.1" || config.bind == "localhost" || config.bind == "::1";
  if (!loopback && config.tls_cert.empty() && !config.behind_proxy) {
    spdlog::error(
        "refusing --bind {}: beyond loopback the web server needs TLS (--tls-cert and "
        "--tls-key) or a TLS-terminating reverse proxy (--behind-proxy --trusted-proxies "
        "CIDR...)",
        config.bind);
    return 2;
  }

  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok()) {
    spdlog::error("cannot open archive in {}: {}", config.data_dir, archive.error().ToString());
    return 1;
  }
  auto counts = (*archive)->index().Counts(store::Scope::Everything());
  if (counts.ok()) {
    spdlog::info("archive {}: {} studies, {} instances", config.data_dir, counts->studies,
                 counts->instances);
  }

  // First start: an admin account with a random password, shown once (ARCHITECTURE.md).
  web::Auth auth((*archive)->index().users(), clock);
  const std::string password_file = config.data_dir + "/initial-admin-password";
  auto admin = auth.EnsureInitialAdmin(password_file);
  if (!admin.ok()) {
    spdlog::error("cannot create the initial admin account: {}", admin.error().ToString());
    return 1;
  }
  if (admin->has_value()) {
    spdlog::warn(
        "created account 'admin' with password {} (also in {}, mode 0600); change it "
        "with: dxhub user passwd admin",
        **admin, password_file);
  }

  // The AI pipeline starts before the listeners so that every instance received is planned.
  std::unique_ptr<ai::AiPipeline> pipeline;
  if (config.ai) {
    auto models = ai::ScanModels(config.ModelRoots());
    for (const auto& problem : models.problems)
      spdlog::warn("ai: model skipped: {}", problem);
    ai::PipelineOptions ai_options;
    ai_options.workers = config.ai_queue_only ? 0
                         : config.ai_workers > 0
                             ? config.ai_workers
                             : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    ai_options.threads = config.ai_threads;
    ai_options.stable_quiet_ms = int64_t{config.stable_after_s} * 1000;
    ai_options.job_timeout_ms = int64_t{config.ai_timeout_s} * 1000;
    auto started = ai::AiPipeline::Start(**archive, std::move(models.cards), ai_options, clock);
    if (!started.ok()) {
      spdlog::error("ai: {}", started.error().ToString());
      return 1;
    }
    pipeline = std::move(started.value());
  }

  // Image processing (bone removal, lungs, vessels, meshes, MPR/MIP, DSA) as queued jobs.
  // With a shared database a node without workers still takes requests: the jobs it queues run
  // on the nodes that have workers (as --ai-queue-only does for AI). Alone, 0 turns it off.
  std::unique_ptr<imaging::ProcessingService> processing;
  const bool shared_queue = store::sql::IsPostgresUrl(config.index);
  if (config.processing_workers > 0 || shared_queue) {
    if (config.processing_workers == 0)
      spdlog::info("processing: no workers on this node; jobs queued here run on other nodes");
    imaging::ProcessingOptions processing_options;
    processing_options.derived_dir = config.data_dir + "/derived";
    processing_options.workers = config.processing_workers;
    auto started = imaging::ProcessingService::Start(**archive, clock, processing_options);
    if (!started.ok()) {
      spdlog::error("processing: {}", started.error().ToString());
      return 1;
    }
    processing = std::move(started.value());
  }

  // Audit events to the hospital's collector, from the audit table itself (nothing is lost
  // while the collector is down).
  std::unique_ptr<store::AuditForwarder> audit_export;
  if (!config.audit_syslog.empty()) {
    auto target = store::ParseSyslogTarget(config.audit_syslog);
    if (!target.ok()) {
      spdlog::error("{}", target.error().message);
      return 2;
    }
    target->ca_file = config.audit_syslog_ca;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    auto started = store::AuditForwarder::Start((*archive)->index().users(), *target,
                                                config.data_dir + "/audit-syslog.cursor",
                                                std::string("dxhub@") + host, config.aet);
    if (!started.ok()) {
      spdlog::error("audit-syslog: {}", started.error().ToString());
      return 1;
    }
    audit_export = std::move(started.value());
    spdlog::info("audit: sending PS3.15 audit messages to {}", config.audit_syslog);
  }

  ScpIngest ingest(**archive);
  dicom::ScpOptions scp;
  scp.aet = config.aet;
  scp.bind = config.dicom_bind;
  scp.port = config.dicom_port;
  scp.max_associations = config.max_associations;
  scp.max_associations_per_host = config.max_associations_per_host;
  scp.request_timeout_s = config.association_timeout_s;
  scp.allowed_aets = config.allowed_aets;
  scp.allowed_hosts = config.allowed_hosts;
  scp.dimse_timeout_s = config.dimse_timeout_s;
  scp.tls_cert = config.dicom_tls_cert.empty() ? config.tls_cert : config.dicom_tls_cert;
  scp.tls_key = config.dicom_tls_key.empty() ? config.tls_key : config.dicom_tls_key;
  scp.tls_ca_dir = config.dicom_tls_ca;
  if (!scp.tls_cert.empty())
    scp.tls_port = config.dicom_tls_port;
  if (config.dicom_tls_only)
    scp.port = -1;
  // The config file's peers and those administrators added (on any node) in the database.
  store::PeerDirectory peers((*archive)->index().peers(), clock, config.remote_aes,
                             config.dicomweb_peers);
  (void)peers.Refresh();  // a database that cannot be read now is read on the next refresh
  scp.query_peers = QueryPeers(*peers.Current());
  FindIndex find((*archive)->index(), config.aet);
  MoveIndex move((*archive)->index(), (*archive)->blobs(), peers, scp.tls_cert, scp.tls_key);
  DimseAudit dimse_audit((*archive)->index().users(), clock);
  auto dicom_server = dicom::StartDicomServer(scp, ingest, &find, &move, &dimse_audit);
  if (!dicom_server.ok()) {
    spdlog::error("{}", dicom_server.error().ToString());
    return 1;
  }
  peers.OnChange([&](const store::PeerDirectory::Snapshot& now) {
    if (Status set = (*dicom_server)->SetQueryPeers(QueryPeers(now)); !set.ok())
      spdlog::error("peers: query/retrieve rules not changed: {}", set.error().message);
  });
  Periodic peer_refresh(kPeerRefresh, [&] { (void)peers.Refresh(); });
  peer_refresh.Start();
  web::HttpOptions http_options;
  http_options.bind = config.bind;
  http_options.port = config.http_port;
  http_options.threads = config.http_threads;
  http_options.cache_bytes = static_cast<size_t>(config.cache_mb) << 20;
  http_options.max_upload_bytes = static_cast<size_t>(config.max_upload_mb) << 20;
  http_options.aet = config.aet;
  http_options.public_url = config.public_url;
  http_options.tls_cert = config.tls_cert;
  http_options.tls_key = config.tls_key;
  if (config.behind_proxy)
    http_options.trusted_proxies = config.trusted_proxies;
  while (!http_options.public_url.empty() && http_options.public_url.back() == '/')
    http_options.public_url.pop_back();
  http_options.dicom_client_cert = scp.tls_cert;
  http_options.dicom_client_key = scp.tls_key;
  http_options.node_name = config.node_name;
  http_options.job_lease_ms = int64_t{config.job_lease_s} * 1000;
  http_options.worklist_wait_cap_ms = int64_t{config.worklist_wait_cap_min} * 60 * 1000;
  http_options.read_targets = ReadTargets(config);
  auto http =
      web::StartHttpServer(http_options, **archive, peers, pipeline.get(), processing.get());
  if (!http.ok()) {
    spdlog::error("{}", http.error().ToString());
    return 1;
  }
  // This node on the cluster page, renewing the leases of the jobs it claims.
  store::NodeInfo self;
  self.name = config.node_name;
  self.version = DXHUB_VERSION;
  self.http_url = !http_options.public_url.empty()
                      ? http_options.public_url
                      : std::string(config.tls_cert.empty() ? "http" : "https") + "://" +
                            config.bind + ":" + std::to_string((*http)->port());
  self.dicom_port = (*dicom_server)->port();
  self.pid = ::getpid();
  self.started_ms = clock.NowMillis();
  NodeHeartbeat heartbeat((*archive)->index().cluster(), clock, self,
                          int64_t{config.job_lease_s} * 1000, [&](store::NodeInfo& node) {
                            node.load = LoadAverage();
                            node.ingested = (*archive)->ingested();
                            node.taken_over = (pipeline ? pipeline->taken_over() : 0) +
                                              (processing ? processing->taken_over() : 0);
                          });
  heartbeat.Start();
  // Every node sweeps; the store makes it idempotent (one open request per study).
  Periodic read_rules(kReadRuleSweep, [&] {
    const int64_t now = clock.NowMillis();
    auto opened = (*archive)->index().reading().ApplyRules(now - kReadRuleWindowMs, now,
                                                           http_options.read_targets);
    if (!opened.ok())
      spdlog::warn("reading: standing read requests not applied: {}", opened.error().message);
    else if (*opened > 0)
      spdlog::info("reading: {} read request(s) opened by clinics' rules", *opened);
  });
  read_rules.Start();

  // The ports actually bound (a configured 0 picks free ones): tests and scripts read them here.
  spdlog::info("dxhub ready: DICOM {}@{}:{} (TLS {})  web {}://{}:{}/", config.aet, config.bind,
               (*dicom_server)->port(), (*dicom_server)->tls_port(),
               config.tls_cert.empty() ? "http" : "https", config.bind, (*http)->port());

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP)
      break;
    if (Status reloaded = (*http)->ReloadTls(); !reloaded.ok())
      spdlog::error("SIGHUP: HTTPS certificate not reloaded, the old one stays: {}",
                    reloaded.error().ToString());
    if (Status reloaded = (*dicom_server)->ReloadTls(); !reloaded.ok())
      spdlog::error("SIGHUP: DICOM TLS certificate not reloaded, the old one stays: {}",
                    reloaded.error().ToString());
  }
  spdlog::info("signal {} received, shutting down", sig);
  (*http)->Stop();
  read_rules.Stop();
  heartbeat.Stop();
  peer_refresh.Stop();
  (*dicom_server)->Stop();
  if (processing)
    processing->Stop();
  if (audit_export)
    audit_export->Stop();
  if (pipeline)
    pipeline->Stop();
  return 0;
}

}  // namespace dxhub::app
