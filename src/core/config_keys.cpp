#include "core/config_keys.h"

#include <charconv>

namespace dxhub {
namespace {

Result<int> ToInt(const std::string& name, const std::string& text) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty())
    return MakeError(ErrorCode::kInvalidArgument, name + " must be an integer, not '" + text + "'");
  return value;
}

using Values = std::vector<std::string>;

ConfigKey Int(std::string_view name, KeyScope scope, std::string_view help, int Config::*member) {
  return {name, KeyKind::kInt, scope, help, [name, member](Config& c, const Values& v) -> Status {
            auto n = ToInt(std::string(name), v.empty() ? "" : v.front());
            if (!n.ok())
              return n.error();
            c.*member = *n;
            return Ok();
          }};
}

ConfigKey Str(std::string_view name, KeyScope scope, std::string_view help,
              std::string Config::*member) {
  return {name, KeyKind::kString, scope, help, [member](Config& c, const Values& v) -> Status {
            c.*member = v.empty() ? "" : v.front();
            return Ok();
          }};
}

ConfigKey List(std::string_view name, KeyScope scope, std::string_view help,
               std::vector<std::string> Config::*member, KeyKind kind = KeyKind::kList) {
  return {name, kind, scope, help, [member](Config& c, const Values& v) -> Status {
            c.*member = v;
            return Ok();
          }};
}

ConfigKey Flag(std::string_view name, KeyScope scope, std::string_view help, bool Config::*member,
               bool when_set) {
  return {name, KeyKind::kFlag, scope, help,
          [member, when_set](Config& c, const Values& v) -> Status {
            const bool on = !v.empty() && v.front() == "true";
            c.*member = on ? when_set : !when_set;
            return Ok();
          }};
}

// Remote AEs from "AET@HOST:PORT" texts; `query` marks them as query/retrieve peers. Entries
// of the other kind are kept.
Status ApplyRemoteAes(Config& c, const Values& v, bool query) {
  std::vector<RemoteAe> kept;
  for (const auto& ae : c.remote_aes) {
    if (ae.query != query)
      kept.push_back(ae);
  }
  for (const auto& text : v) {
    auto ae = ParseRemoteAe(text);
    if (!ae.ok())
      return ae.error();
    ae->query = query;
    kept.push_back(*ae);
  }
  c.remote_aes = std::move(kept);
  return Ok();
}

std::vector<ConfigKey> MakeTable() {
  using K = KeyScope;
  std::vector<ConfigKey> t = {
      Str("data", K::kCommon, "data directory (default ./var)", &Config::data_dir),
      Str("index", K::kCommon,
          "index database: sqlite (default, DATA/index.sqlite) or postgresql://USER@HOST:PORT/DB "
          "(shared by several nodes; password from ~/.pgpass or PGPASSWORD)",
          &Config::index),
      Str("node-name", K::kCommon,
          "this node's name among the nodes sharing one database (default: the host name)",
          &Config::node_name),
      Int("db-pool-size", K::kCommon,
          "PostgreSQL connections this node holds at most (default 8: ten nodes fit "
          "PostgreSQL's default max_connections of 100)",
          &Config::db_pool_size),
      Int("job-lease", K::kCommon,
          "seconds a node's claim on a background job holds without renewal; a dead node's "
          "jobs are taken over after it (default 30)",
          &Config::job_lease_s),
      Str("log-level", K::kCommon, "trace|debug|info|warn|error", &Config::log_level),
      List("model-dir", K::kCommon,
           "folder of model folders (repeatable; default ./models; DATA/models is always "
           "searched too)",
           &Config::model_dirs, KeyKind::kRepeated),
      {"duplicates", KeyKind::kString, K::kCommon,
       "rule for an already archived SOP Instance UID: keep-first|replace",
       [](Config& c, const Values& v) -> Status {
         auto policy = ParseDuplicatePolicy(v.empty() ? "" : v.front());
         if (!policy.ok())
           return policy.error();
         c.duplicates = *policy;
         return Ok();
       }},
      Str("bind", K::kServe, "HTTP bind address (default 127.0.0.1)", &Config::bind),
      Int("http-port", K::kServe, "HTTP port (default 8080; 0 = any free port)",
          &Config::http_port),
      Int("http-threads", K::kServe,
          "HTTP connections served at once, a thread each (default 256); three quarters at most "
          "may wait for a request, a quarter of those from one address",
          &Config::http_threads),
      Int("cache-mb", K::kServe,
          "memory for rendered images and metadata, MiB (default 256; 0 = off)", &Config::cache_mb),
      Int("max-upload-mb", K::kServe, "largest STOW-RS upload, MiB (default 4096; spooled to disk)",
          &Config::max_upload_mb),
      Str("tls-cert", K::kServe,
          "HTTPS: certificate file (PEM, may hold the chain); with --tls-key, --http-port "
          "serves TLS 1.2/1.3 only (reloaded on SIGHUP)",
          &Config::tls_cert),
      Str("tls-key", K::kServe, "HTTPS: private key file (PEM)", &Config::tls_key),
      Flag("behind-proxy", K::kServe,
           "a TLS-terminating reverse proxy fronts dxhub (needs --trusted-proxies)",
           &Config::behind_proxy, true),
      List("trusted-proxies", K::kServe,
           "addresses (IPs or CIDR ranges) of the reverse proxies whose X-Forwarded-For is "
           "believed",
           &Config::trusted_proxies),
      Str("audit-syslog", K::kServe,
          "also send every audit event to this syslog collector as a DICOM PS3.15 audit "
          "message: udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (kept and resent while "
          "the collector is down)",
          &Config::audit_syslog),
      Str("audit-syslog-ca", K::kServe,
          "tls:// collectors: CA certificates (PEM) to verify the collector with (default: the "
          "system's)",
          &Config::audit_syslog_ca),
      Str("dicom-bind", K::kServe, "DICOM bind address (default 0.0.0.0: every interface)",
          &Config::dicom_bind),
      Int("dicom-port", K::kServe, "DICOM port (default 11112; 0 = any free port)",
          &Config::dicom_port),
      Str("aet", K::kServe, "AE title (default DXHUB)", &Config::aet),
      Int("dicom-tls-port", K::kServe,
          "DICOM TLS port (default 2762), served when a certificate is configured "
          "(--dicom-tls-cert, else --tls-cert)",
          &Config::dicom_tls_port),
      Str("dicom-tls-cert", K::kServe, "DICOM TLS certificate (PEM; default: --tls-cert)",
          &Config::dicom_tls_cert),
      Str("dicom-tls-key", K::kServe, "DICOM TLS private key (PEM; default: --tls-key)",
          &Config::dicom_tls_key),
      Str("dicom-tls-ca", K::kServe,
          "folder of CA certificates (*.pem, *.crt): DICOM TLS clients must present a "
          "certificate one of them signed",
          &Config::dicom_tls_ca),
      Flag("dicom-tls-only", K::kServe, "serve DICOM on the TLS port only (no plain port)",
           &Config::dicom_tls_only, true),
      Int("max-associations", K::kServe, "concurrent DICOM associations (default 32)",
          &Config::max_associations),
      Int("max-associations-per-host", K::kServe,
          "open DICOM connections from one peer address (default 16)",
          &Config::max_associations_per_host),
      Int("association-timeout", K::kServe,
          "seconds a new DICOM connection may take to send its association request (default 10)",
          &Config::association_timeout_s),
      Int("dimse-timeout", K::kServe, "seconds of DIMSE inactivity before an abort (default 60)",
          &Config::dimse_timeout_s),
      List("allowed-aets", K::kServe, "calling AE titles allowed to store (default any)",
           &Config::allowed_aets),
      List("allowed-hosts", K::kServe,
           "peer addresses allowed to associate: IPs or CIDR ranges, never names (default any)",
           &Config::allowed_hosts),
      {"remote-ae", KeyKind::kRepeated, K::kServe,
       "a DICOM node C-MOVE may send to, as AET@HOST:PORT (repeatable)",
       [](Config& c, const Values& v) { return ApplyRemoteAes(c, v, false); }},
      {"query-ae", KeyKind::kRepeated, K::kServe,
       "a DICOM node that may also query and retrieve (C-FIND, C-GET, C-MOVE), as "
       "AET@HOST:PORT; it must connect from HOST's address (repeatable)",
       [](Config& c, const Values& v) { return ApplyRemoteAes(c, v, true); }},
      {"dicomweb-peer", KeyKind::kRepeated, K::kServe,
       "a DICOMweb server dxhub may query or send to, as NAME=URL (repeatable)",
       [](Config& c, const Values& v) -> Status {
         c.dicomweb_peers.clear();
         for (const auto& text : v) {
           auto peer = ParseDicomWebPeer(text);
           if (!peer.ok())
             return peer.error();
           c.dicomweb_peers.push_back(*peer);
         }
         return Ok();
       }},
      Str("public-url", K::kServe,
          "the URL clients reach dxhub at, e.g. https://pacs.example.org (for absolute links in "
          "DICOMweb answers; default: built from the validated Host header)",
          &Config::public_url),
      Flag("no-ai", K::kServe, "do not run the AI pipeline", &Config::ai, false),
      Int("ai-workers", K::kServe, "AI worker threads (default: one per core)",
          &Config::ai_workers),
      Flag("ai-queue-only", K::kServe,
           "plan and queue AI jobs for the images this node receives, but run no AI workers "
           "here: other nodes sharing the database run them",
           &Config::ai_queue_only, true),
      Int("ai-threads", K::kServe, "OpenCV threads per inference (default: cores)",
          &Config::ai_threads),
      Int("ai-timeout", K::kServe,
          "seconds after which a running AI job fails as timed out (default 300)",
          &Config::ai_timeout_s),
      Int("processing-workers", K::kServe,
          "image-processing worker threads (default 1; 0 turns processing off, or on "
          "PostgreSQL queues jobs for other nodes to run)",
          &Config::processing_workers),
      Int("stable-after", K::kServe,
          "seconds without new images after which a study is complete (default 30)",
          &Config::stable_after_s),
      Int("worklist-wait-cap", K::kServe,
          "minutes after which an unread study rises to the top of the worklist (default 120)",
          &Config::worklist_wait_cap_min),
      Int("read-turnaround-stat", K::kServe,
          "minutes within which a stat read request is due (default 60)",
          &Config::read_turnaround_stat_min),
      Int("read-turnaround-urgent", K::kServe,
          "minutes within which an urgent read request is due (default 240)",
          &Config::read_turnaround_urgent_min),
      Int("read-turnaround-routine", K::kServe,
          "minutes within which a routine read request is due (default 1440)",
          &Config::read_turnaround_routine_min),
  };
  return t;
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> table = MakeTable();
  return table;
}

const ConfigKey* FindConfigKey(std::string_view name) {
  for (const auto& key : ConfigKeys()) {
    if (key.name == name)
      return &key;
  }
  return nullptr;
}

}  // namespace dxhub
