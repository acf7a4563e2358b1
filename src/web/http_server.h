#pragma once
// The HTTP front door: REST API (/api), health and, in later issues, DICOMweb, metrics and the
// web app.
//
// HTTP library choice: cpp-httplib (Debian libcpp-httplib-dev 0.11). It is packaged, parses HTTP
// for us, runs handlers on a bounded thread pool we size, streams large request bodies through a
// ContentReader (needed for STOW-RS) and chunked responses through a content provider (needed for
// WADO-RS multipart and server-sent events). Boost.Beast would give more control over async I/O,
// but dxhub's handlers block on disk and SQLite anyway, so a thread-per-request pool is the right
// shape and needs far less code; RESTinio pulls in asio and fmt versions of its own.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ai/pipeline.h"
#include "core/config.h"
#include "core/result.h"
#include "imaging/processing.h"
#include "store/archive.h"
#include "store/peer_directory.h"
#include "store/reading_store.h"

namespace dxhub::web {

struct HttpOptions {
  std::string bind = "127.0.0.1";
  int port = 8080;  // 0 picks a free port
  /// Connections served at once (a thread each); see web/connection_pool.h for the reserve.
  int threads = 256;
  /// Bytes of rendered images, thumbnails and metadata JSON kept in memory (LRU).
  size_t cache_bytes = size_t{256} << 20;
  /// Largest request body (a STOW-RS upload), spooled to disk as it arrives.
  size_t max_upload_bytes = size_t{4} << 30;
  /// HTTPS when both are set (PEM files; the certificate file may hold the chain).
  std::string tls_cert;
  std::string tls_key;
  /// Reverse proxies whose X-Forwarded-For is believed (IPs or CIDR ranges).
  std::vector<std::string> trusted_proxies;
  /// The URL clients reach dxhub at (absolute links in DICOMweb answers); empty: the validated
  /// Host header.
  std::string public_url;
  /// dxhub's own AE title (the calling AE of /api/peers connection tests).
  std::string aet = "DXHUB";
  /// What dxhub presents to remote AEs reached over DICOM TLS (connection tests).
  std::string dicom_client_cert;
  std::string dicom_client_key;
  /// This node's name in the cluster, and how long its job claims hold (the cluster page).
  std::string node_name;
  int64_t job_lease_ms = 30000;
  /// An unread study waiting longer than this rises to the top of the worklist.
  int64_t worklist_wait_cap_ms = int64_t{120} * 60 * 1000;
  /// When a read request of each priority is due.
  store::TurnaroundTargets read_targets;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  /// The port actually bound (useful with port 0).
  virtual int port() const = 0;
  virtual void Stop() = 0;
  /// Loads the TLS certificate and key again (SIGHUP); the old ones stay on failure.
  virtual Status ReloadTls() = 0;
};

using HttpServerPtr = std::unique_ptr<HttpServer>;

/// Binds and starts serving on a background thread. `archive` (and `ai` and `processing`, when
/// not null) must outlive the server. Without `ai` the AI routes answer 503, without
/// `processing` the image-processing ones.
/// `peers`: the directory /api/peers lists and changes.
Result<HttpServerPtr> StartHttpServer(const HttpOptions& options, store::Archive& archive,
                                      store::PeerDirectory& peers, ai::AiPipeline* ai = nullptr,
                                      imaging::ProcessingService* processing = nullptr);

}  // namespace dxhub::web
