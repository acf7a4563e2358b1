#pragma once
// The DICOM port's front door: accepts TCP connections without ever waiting on a peer, and hands
// a connection on only once its whole A-ASSOCIATE-RQ PDU has arrived. Idle, slow or non-DICOM
// peers therefore cost a file descriptor until a short deadline, never an association worker,
// and never delay another modality's association (DCMTK reads the request PDU in the thread
// that accepted the connection, with the ACSE timeout: one idle socket stalled every sender).

#include <functional>
#include <memory>
#include <string>

#include "core/result.h"

namespace dxhub::dicom {

struct ListenerOptions {
  std::string bind = "0.0.0.0";  // numeric address; "::" listens on IPv6 and IPv4
  int port = 11112;              // 0 picks a free port
  /// Seconds a new connection may take to deliver its A-ASSOCIATE-RQ.
  int request_timeout_s = 10;
  /// Open connections (waiting or associated) from one peer address; more are closed at once.
  int max_per_host = 16;
  /// Connections waiting for their A-ASSOCIATE-RQ, from all peers together.
  int max_waiting = 512;
  /// A DICOM TLS port: what must be buffered before the hand-off is the TLS ClientHello record
  /// (the association request comes encrypted, after the handshake).
  bool tls = false;
};

/// Held for as long as a connection is open: releases its per-host slot on destruction.
class HostSlot {
 public:
  virtual ~HostSlot() = default;
};
using HostSlotPtr = std::unique_ptr<HostSlot>;

/// A connection whose A-ASSOCIATE-RQ is fully buffered in the kernel, handed over for
/// negotiation. `fd` is blocking and owned by the receiver from then on.
struct ReadyConnection {
  int fd = -1;
  std::string peer_ip;  // numeric, as accept() reported it
  HostSlotPtr slot;
};

class AssociationListener {
 public:
  using Handoff = std::function<void(ReadyConnection)>;
  virtual ~AssociationListener() = default;
  /// The port actually bound.
  virtual int port() const = 0;
  /// Stops accepting and closes the connections still waiting. Handed-off ones are the
  /// receiver's.
  virtual void Stop() = 0;
};
using AssociationListenerPtr = std::unique_ptr<AssociationListener>;

/// Binds and starts the accept thread. `handoff` runs on that thread and must not block on the
/// network (the data it needs is already buffered).
Result<AssociationListenerPtr> StartAssociationListener(const ListenerOptions& options,
                                                        AssociationListener::Handoff handoff);

}  // namespace dxhub::dicom
