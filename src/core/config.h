#pragma once
// dxhub's runtime configuration. Every `dxhub serve` flag is also a key of the TOML file given by
// `--config`; flags given on the command line win over the file.

#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub {

/// What to do when an instance arrives whose SOPInstanceUID is already archived.
enum class DuplicatePolicy {
  kKeepFirst,  // keep the archived copy, answer success (Orthanc's default); the sender is done
  kReplace,    // replace the archived copy with the new bytes (for corrected re-sends)
};

/// Another DICOM node dxhub may send to (C-MOVE destinations, later exports and replicas).
struct RemoteAe {
  std::string name;  // how operators refer to it; defaults to the AE title
  std::string aet;
  std::string host;
  int port = 104;
  /// May query and retrieve (C-FIND, C-GET, C-MOVE), from the addresses in `from`.
  bool query = false;
  /// IPs or CIDR ranges a query peer must connect from; empty: the addresses of `host`.
  std::vector<std::string> from;
  /// dxhub's associations to this node (C-MOVE sub-operations, echo) use DICOM TLS; the node's
  /// certificate must chain to `ca` (PEM file).
  bool tls = false;
  std::string ca;
  bool operator==(const RemoteAe&) const = default;
};

/// Parses "AET@HOST:PORT" (the --remote-ae flag); name = AET.
Result<RemoteAe> ParseRemoteAe(const std::string& text);

/// The checks for a remote AE an administrator adds at run time (POST /api/peers): a name fit
/// for a URL (1-64 letters, digits, '.', '-', '_'), an AE title of 1-16 characters without
/// backslash or control characters, a host name or address, a port, parseable `from` ranges.
Status ValidateRemoteAe(const RemoteAe& ae);

/// Another DICOMweb server dxhub may query or send to (exports, replicas, federated search).
struct DicomWebPeer {
  std::string name;   // letters, digits, '-', '_' (used in URLs of dxhub's own API)
  std::string url;    // base URL of its DICOMweb root, e.g. "http://pacs:8042/dicom-web"
  std::string token;  // sent as "Authorization: Bearer <token>" when set (TOML key `token`)
  bool operator==(const DicomWebPeer&) const = default;
};

/// Parses "NAME=URL" (the --dicomweb-peer flag). The URL must be http:// or https:// with a
/// host, and no query or fragment.
Result<DicomWebPeer> ParseDicomWebPeer(const std::string& text);
Result<DicomWebPeer> MakeDicomWebPeer(std::string name, std::string url);

struct Config {
  std::string data_dir = "./var";
  std::string bind = "127.0.0.1";
  int http_port = 8080;
  /// The URL clients reach dxhub at (absolute links in DICOMweb answers); empty: from the
  /// validated Host header.
  std::string public_url;
  /// HTTPS on --http-port when both are set (PEM; the certificate file may hold the chain).
  std::string tls_cert;
  std::string tls_key;
  /// dxhub sits behind a reverse proxy that terminates TLS; its X-Forwarded-For is believed
  /// from `trusted_proxies` (IPs or CIDR ranges) only.
  bool behind_proxy = false;
  /// Audit events also go to this syslog collector as DICOM PS3.15 audit messages:
  /// udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT.
  std::string audit_syslog;
  /// tls:// collectors: CA certificates (PEM file) to verify the collector with.
  std::string audit_syslog_ca;
  std::vector<std::string> trusted_proxies;
  std::string dicom_bind = "0.0.0.0";
  /// DICOM TLS: on when a certificate is known (dicom-tls-cert, else tls-cert).
  int dicom_tls_port = 2762;
  std::string dicom_tls_cert;
  std::string dicom_tls_key;
  /// Require client certificates signed by a CA in this folder.
  std::string dicom_tls_ca;
  /// Only the TLS port; no plain DICOM port.
  bool dicom_tls_only = false;
  int dicom_port = 11112;
  std::string aet = "DXHUB";
  /// Empty or "sqlite": SQLite at DATA/index.sqlite; "postgresql://USER@HOST:PORT/DB": the
  /// database several nodes share.
  std::string index;
  /// This node's name among the nodes sharing one database (default: the host name).
  std::string node_name;
  /// PostgreSQL connections this node holds at most.
  int db_pool_size = 8;
  /// How long a node's claim on an AI or processing job holds without renewal: after a node
  /// dies, its jobs wait this long before another node takes them over.
  int job_lease_s = 30;
  /// Concurrent DICOM associations; more are rejected with "local limit exceeded".
  int max_associations = 32;
  /// Open DICOM connections from one peer address; more are closed at once.
  int max_associations_per_host = 16;
  /// Seconds a new DICOM connection may take to send its A-ASSOCIATE-RQ.
  int association_timeout_s = 10;
  /// Calling AE titles allowed to associate; empty allows any.
  std::vector<std::string> allowed_aets;
  /// Peer IP addresses or CIDR ranges allowed to associate; empty allows any.
  std::vector<std::string> allowed_hosts;
  DuplicatePolicy duplicates = DuplicatePolicy::kKeepFirst;
  /// Known DICOM nodes (TOML: [[remote-ae]] name/aet/host/port tables, or "AET@HOST:PORT").
  std::vector<RemoteAe> remote_aes;
  /// Known DICOMweb servers (TOML: [[dicomweb-peer]] name/url tables, or "NAME=URL").
  std::vector<DicomWebPeer> dicomweb_peers;
  /// Connections the web server serves at once (a thread each).
  int http_threads = 256;
  /// Memory for rendered images, thumbnails and metadata JSON (MiB); 0 disables the cache.
  int cache_mb = 256;
  /// Largest STOW-RS upload (MiB); it is spooled to disk, so this bounds disk, not memory.
  int max_upload_mb = 4096;
  /// Seconds of DIMSE inactivity after which an association is aborted.
  int dimse_timeout_s = 60;
  std::string log_level = "info";

  /// Folders of model folders (card.toml + ONNX); DATA/models (where `dxhub model add` puts
  /// models) is always searched after these.
  std::vector<std::string> model_dirs = {"./models"};
  /// Run the AI pipeline in `serve`.
  bool ai = true;
  bool ai_queue_only = false;  // plan jobs here, leave running them to other nodes
  int ai_workers = 0;          // classification threads; 0 = one per core (bench/RESULTS.md)
  int ai_threads = 0;          // OpenCV threads per inference; 0 = all cores
  /// Image-processing worker threads in `serve` (each holds a whole volume); 0 turns the
  /// processing API off.
  int processing_workers = 1;
  /// Seconds without a new image after which a study counts as complete ("stable").
  int stable_after_s = 30;
  /// Seconds after which a running AI job fails with "timeout" (a hung model).
  int ai_timeout_s = 300;
  /// Minutes an unread study may wait before it rises to the top of the worklist, whatever its
  /// AI risk: a normal-looking study must not wait behind a stream of high-risk ones forever.
  int worklist_wait_cap_min = 120;
  /// Turnaround targets of remote reading, per priority of a read request (minutes): a request
  /// not signed by then is overdue and rises to the top of the reading queue.
  int read_turnaround_stat_min = 60;
  int read_turnaround_urgent_min = 240;
  int read_turnaround_routine_min = 1440;

  std::string IndexPath() const { return data_dir + "/index.sqlite"; }
  std::string BlobDir() const { return data_dir + "/blobs"; }
  std::string ModelDir() const { return data_dir + "/models"; }
  std::vector<std::string> ModelRoots() const {
    auto roots = model_dirs;
    roots.push_back(ModelDir());
    return roots;
  }
};

/// Overlays the keys present in the TOML file at `path` onto `base`. The keys are those of
/// ConfigKeys() (core/config_keys.h). Unknown keys and values of the wrong type are errors, so a
/// typo in a hospital's config does not silently fall back to a default.
Result<Config> LoadConfigFile(const std::string& path, Config base);

/// Checks what no single key can: ranges, and that every remote AE and DICOMweb peer has a
/// distinct name (operators and the API refer to them by name).
Status ValidateConfig(const Config& config);

Result<DuplicatePolicy> ParseDuplicatePolicy(const std::string& text);

}  // namespace dxhub
