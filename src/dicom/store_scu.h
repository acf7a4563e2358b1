#pragma once
// Sends archived instances to another DICOM node (C-STORE SCU), as C-MOVE sub-operations and,
// later, exports and replication do. DCMTK's DcmSCU stays inside.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

/// A DICOM node dxhub may send to (configured, never taken from a request).
struct RemoteNode {
  std::string aet;
  std::string host;
  int port = 104;
  /// DICOM TLS to this node: its certificate must chain to `ca_file` (PEM); dxhub presents
  /// `client_cert`/`client_key` (PEM) when set.
  bool tls = false;
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
};

/// One instance to send: its Part-10 file and what negotiation needs.
struct OutgoingInstance {
  std::string path;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
  std::string study_instance_uid;  // for the audit of what a retrieve sent
};

struct SendResult {
  int completed = 0;
  int failed = 0;
  int warning = 0;
  std::vector<std::string> failed_uids;
  bool cancelled = false;  // progress asked to stop; the rest was not attempted
};

/// Opens one association from `calling_aet` to `node`, proposing each (SOP class, stored
/// transfer syntax) pair of `instances` with explicit and implicit little endian as fallbacks,
/// and C-STOREs them in order: as stored where the peer accepts the stored encoding, otherwise
/// decoded to native pixels. `progress` is called after each instance; returning false stops
/// there (a C-CANCEL). An error means the association could not be established; per-instance
/// failures are counted instead.
/// `move_originator` fills the Move Originator AE Title/Message ID of C-MOVE sub-operations.
Result<SendResult> SendInstances(const RemoteNode& node, const std::string& calling_aet,
                                 const std::vector<OutgoingInstance>& instances,
                                 const std::function<bool(const SendResult&)>& progress,
                                 const std::string& move_originator = "",
                                 uint16_t move_message_id = 0);

/// C-ECHO from `calling_aet` to `node`: Ok when it answers Success; kUnavailable with the reason
/// (refused association, no answer, failure status) otherwise. For "test connection" buttons.
Status Echo(const RemoteNode& node, const std::string& calling_aet, int timeout_s = 10);

}  // namespace dxhub::dicom
