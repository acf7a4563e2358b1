#pragma once
// The audit log, exported to the hospital's audit record repository: every row becomes a DICOM
// PS3.15 A.5 audit message (XML) sent over syslog (RFC 5424; TLS per RFC 5425, plain TCP with
// octet counting per RFC 6587, or UDP per RFC 5426).
//
// Durability: the audit table is the queue. A cursor file (DATA/audit-syslog.cursor, written
// atomically) holds the id of the last row the collector accepted; rows after it are sent in
// order, and the cursor moves only after they were written to the connection. A collector that
// is down, or a restart, loses nothing: sending resumes after the cursor. Syslog has no
// acknowledgements: over TCP/TLS the connection is checked for a close or reset before every
// batch, which covers a collector that stopped or restarted; a collector that dies in the
// instant between that check and a write can still lose that batch, as with any RFC 5425
// sender. Over UDP a lost datagram cannot be detected at all; use TLS where that matters.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.h"
#include "store/user_store.h"

namespace dxhub::store {

struct SyslogTarget {
  enum class Transport { kUdp, kTcp, kTls };
  Transport transport = Transport::kUdp;
  std::string host;
  int port = 514;
  /// TLS: CA certificates (PEM file) the collector's certificate must chain to; empty: the
  /// system's trust store.
  std::string ca_file;
};

/// "udp://HOST:PORT", "tcp://HOST:PORT" or "tls://HOST:PORT".
Result<SyslogTarget> ParseSyslogTarget(const std::string& url);

/// The PS3.15 A.5 AuditMessage for one row of dxhub's audit log. `source_id` names this dxhub
/// (AuditSourceIdentification); `aet` is its AE title (the non-requesting participant).
std::string AuditMessageXml(const AuditEntry& entry, const std::string& source_id,
                            const std::string& aet);

/// The RFC 5424 syslog message carrying `xml` (facility authpriv, severity notice, as IHE ATNA
/// asks), stamped with the event's time.
std::string SyslogMessage(const std::string& xml, int64_t at_ms, const std::string& hostname);

class AuditForwarder {
 public:
  ~AuditForwarder();
  AuditForwarder(const AuditForwarder&) = delete;
  AuditForwarder& operator=(const AuditForwarder&) = delete;

  /// Starts the sending thread. `users` must outlive the forwarder.
  static Result<std::unique_ptr<AuditForwarder>> Start(UserStore& users, SyslogTarget target,
                                                       std::string cursor_path,
                                                       std::string source_id, std::string aet);
  /// Wakes the sender (a new row was written); cheap, optional: it also polls every second.
  void Wake();
  void Stop();
  /// Rows sent so far by this process.
  int64_t sent() const { return sent_; }

 private:
  AuditForwarder(UserStore& users, SyslogTarget target, std::string cursor_path,
                 std::string source_id, std::string aet);
  void Loop();
  Status SendBatch();

  class Connection;
  UserStore& users_;
  SyslogTarget target_;
  std::string cursor_path_;
  std::string source_id_;
  std::string aet_;
  std::string hostname_;
  int64_t cursor_ = 0;
  std::unique_ptr<Connection> connection_;
  std::atomic<int64_t> sent_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool woken_ = false;     // guarded by mu_
  std::thread thread_;
};

}  // namespace dxhub::store
