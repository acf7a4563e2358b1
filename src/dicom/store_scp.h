#pragma once
// The DIMSE service provider: C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET over a bounded pool of
// association workers, fed by an AssociationListener that never waits on a peer. Callers see
// only the handler interfaces below; DCMTK stays inside this layer.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "dicom/store_scu.h"

namespace dxhub::dicom {

/// What the SCP knows about one incoming C-STORE, handed to the StoreHandler.
struct StoreRequest {
  std::string calling_aet;
  std::string peer_ip;
  std::string sop_class_uid;     // AffectedSOPClassUID of the request
  std::string sop_instance_uid;  // AffectedSOPInstanceUID of the request
};

/// Receives the datasets. Implementations must be thread-safe: every association calls in from
/// its own thread.
class StoreHandler {
 public:
  virtual ~StoreHandler() = default;
  /// A fresh path, on the archive's filesystem, where the SCP writes the incoming dataset.
  virtual std::string NewTempPath() = 0;
  /// Takes ownership of `temp_path` (a Part-10 file exactly as received) and must have removed or
  /// moved it on return. `contents` holds the same bytes when the SCP kept them in memory (null
  /// for a dataset too large to keep), so they need not be read back. Returning Ok means durably
  /// archived and indexed: the SCP then answers Success; an error is answered with the error
  /// table's DICOM status and its message.
  virtual Status Store(const StoreRequest& request, const std::string& temp_path,
                       const std::shared_ptr<const std::string>& contents) = 0;
};

/// A C-FIND identifier in dxhub terms: the query level and the keys in request order (tag as
/// (group << 16) | element, value in UTF-8; an empty value asks for the attribute back).
struct FindQuery {
  std::string level;  // PATIENT, STUDY, SERIES or IMAGE
  std::vector<std::pair<uint32_t, std::string>> keys;
  std::string sop_class_uid;  // Patient Root or Study Root FIND
  std::string calling_aet;
  std::string peer_ip;
};

/// One DIMSE query or retrieve, for the audit log: who asked, from where, what for, and what
/// was matched, sent or refused.
struct DimseEvent {
  std::string service;  // "C-FIND", "C-GET", "C-MOVE"
  std::string calling_aet;
  std::string peer_ip;
  std::string object;  // the query level and the keys with values
  std::string detail;  // what was matched or sent, or why it was refused
};

/// Records DIMSE reads of patient data. Thread-safe. A query or retrieve whose event cannot be
/// recorded is refused (as an unaudited HTTP read is).
class DimseAuditor {
 public:
  virtual ~DimseAuditor() = default;
  virtual Status Record(const DimseEvent& event) = 0;
};

/// A remote AE allowed to query and retrieve (C-FIND, C-GET, C-MOVE): its AE title and the peer
/// addresses (IPs or CIDR ranges) it must connect from. A title alone proves nothing: any
/// program can claim it.
struct QueryPeer {
  std::string aet;
  std::vector<std::string> from;
};

/// One C-FIND match: the requested keys with their values, in request order.
using FindMatch = std::vector<std::pair<uint32_t, std::string>>;

/// Answers C-FIND requests. Thread-safe, like StoreHandler.
class FindHandler {
 public:
  virtual ~FindHandler() = default;
  /// The matches, or an error answered with the error table's DICOM status.
  virtual Result<std::vector<FindMatch>> Find(const FindQuery& query) = 0;
};

/// Resolves C-MOVE requests: which instances, and where the destination AE title lives.
class MoveHandler {
 public:
  virtual ~MoveHandler() = default;
  /// The instances the identifier selects (same keys and matching as C-FIND).
  virtual Result<std::vector<OutgoingInstance>> Resolve(const FindQuery& query) = 0;
  /// The configured node for a Move Destination AE title; nullopt is answered 0xA801.
  virtual std::optional<RemoteNode> Destination(const std::string& aet) = 0;
};

struct ScpOptions {
  std::string aet = "DXHUB";
  std::string bind = "0.0.0.0";
  int port = 11112;  // 0 picks a free port (see DicomServer::port); < 0: no plain port
  /// DICOM TLS (dcmtls, BCP 195 non-downgrading, TLS 1.2+) on this port; < 0: none.
  int tls_port = -1;
  std::string tls_cert;  // PEM
  std::string tls_key;   // PEM
  /// When set: client certificates are required, signed by a CA in this folder (*.pem, *.crt).
  std::string tls_ca_dir;
  int max_associations = 32;
  /// Open connections from one peer address; more are closed at once.
  int max_associations_per_host = 16;
  /// Seconds a new connection may take to send its A-ASSOCIATE-RQ.
  int request_timeout_s = 10;
  std::vector<std::string> allowed_aets;   // empty: any calling AE
  std::vector<std::string> allowed_hosts;  // IPs or CIDR ranges; empty: any peer address
  /// Who may query and retrieve; nobody when empty.
  std::vector<QueryPeer> query_peers;
  int dimse_timeout_s = 60;
  int acse_timeout_s = 30;
};

/// A running DICOM listener. Destroying it stops accepting and waits for open associations.
class DicomServer {
 public:
  virtual ~DicomServer() = default;
  /// The ports actually bound (-1: not listening).
  virtual int port() const = 0;
  virtual int tls_port() const = 0;
  /// Reads the DICOM TLS certificate, key and CA folder again (SIGHUP): new associations use
  /// them, open ones keep theirs; the old ones stay when the new ones cannot be read.
  virtual Status ReloadTls() = 0;
  /// Replaces who may query and retrieve (the peer directory changed): new associations are
  /// judged by the new list, open ones keep theirs. kInvalidArgument for a malformed range (the
  /// old list stays).
  virtual Status SetQueryPeers(std::vector<QueryPeer> peers) = 0;
  /// Stops accepting new associations and waits for running ones to end.
  virtual void Stop() = 0;
};

using DicomServerPtr = std::unique_ptr<DicomServer>;

/// Binds the port and starts listening on a background thread. The handlers must outlive the
/// server; without a FindHandler (MoveHandler) the FIND (MOVE and GET) SOP classes are not
/// negotiated. Queries and retrieves are audited through `auditor` when given. Fails with
/// kUnavailable if the port cannot be bound, kInvalidArgument for a bad address rule.
Result<DicomServerPtr> StartDicomServer(const ScpOptions& options, StoreHandler& handler,
                                        FindHandler* find = nullptr, MoveHandler* move = nullptr,
                                        DimseAuditor* auditor = nullptr);

/// The transfer syntaxes the SCP accepts for storage, in order of preference.
const std::vector<std::string>& AcceptedTransferSyntaxes();
/// Every storage SOP class the SCP accepts (as SCP for C-STORE, and with the SCP role for C-GET
/// sub-operations): DCMTK's table of storage SOP classes.
std::vector<std::string> AcceptedStorageSopClasses();
/// Verification and the query/retrieve information models the SCP accepts.
const std::vector<std::string>& AcceptedServiceSopClasses();
/// The transfer syntaxes accepted for verification, C-FIND, C-MOVE and C-GET.
const std::vector<std::string>& AcceptedCommandTransferSyntaxes();

}  // namespace dxhub::dicom
