#pragma once
// dxhub's HTTP connection loop on top of cpp-httplib's request parser and router. httplib's own
// loop keeps a connection open after any answer, so a body the guard refused unread (a 1 GB
// POST /api/login) was then read in full as if it were the next request; and it bounds each
// read, not a request, so a client trickling bytes held a worker indefinitely. Here a refused
// body ends the connection (after a short lingering close, so the client still reads the
// answer), and every request must arrive within a deadline that grows only with the bytes that
// actually arrive.

#include <httplib.h>

#include <functional>
#include <vector>

#include "core/net.h"
#include "web/connection_pool.h"
#include "web/tls_context.h"

namespace dxhub::web {

struct ConnectionLimits {
  int header_seconds = 10;  // a request's headers (and a small body) must arrive by then
  size_t min_bytes_per_second =
      size_t{64} * 1024;   // beyond that, a body must keep at least this rate
  int idle_seconds = 5;    // keep-alive: wait this long for the next request
  int max_requests = 100;  // per connection
};

class GuardedServer final : public httplib::Server {
 public:
  /// `must_close(req)`, called once a request's headers are parsed: true when the connection is
  /// to end after the answer (the body will not be read).
  GuardedServer(ConnectionLimits limits, std::function<bool(const httplib::Request&)> must_close)
      : limits_(limits), must_close_(std::move(must_close)) {}
  /// Serves HTTPS with the holder's current context from now on (null: plain HTTP). The holder
  /// must outlive the server. Call before listening.
  void UseTls(TlsContextHolder* tls) { tls_ = tls; }
  /// Requests from these addresses (a reverse proxy) are attributed to the client named in their
  /// X-Forwarded-For header: req.remote_addr becomes that client, for the guard, the audit and
  /// the login throttle. From any other address the header is ignored.
  void TrustProxies(std::vector<IpRange> proxies) { proxies_ = std::move(proxies); }
  /// Limits on connections waiting for a request (see web/connection_pool.h). Before listening.
  void SetPoolLimits(PoolLimits limits) {
    registry_ = std::make_unique<ConnectionRegistry>(limits);
  }
  /// Waiting connections closed to make room so far.
  int64_t evicted() const { return registry_->evicted(); }

 private:
  bool process_and_close_socket(socket_t sock) override;

  ConnectionLimits limits_;
  std::function<bool(const httplib::Request&)> must_close_;
  TlsContextHolder* tls_ = nullptr;
  std::vector<IpRange> proxies_;
  std::unique_ptr<ConnectionRegistry> registry_ =
      std::make_unique<ConnectionRegistry>(PoolLimits{});
};

}  // namespace dxhub::web
