#include "web/http_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>

namespace dxhub::web {
namespace {

using Clock = std::chrono::steady_clock;

std::string IpOf(const sockaddr_storage& addr, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  return text;
}

// A TCP (or TLS over TCP, when `ssl` is set) stream with a read buffer (httplib's line reader
// reads byte by byte) and a per-request deadline: `header_seconds` plus one second per
// `min_bytes_per_second` received.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, SSL* ssl, const ConnectionLimits& limits)
      : sock_(sock), ssl_(ssl), limits_(limits) {}

  void StartRequest() {
    start_ = Clock::now();
    received_ = 0;
  }
  /// Waits up to `seconds` for the next request's first byte.
  bool WaitForRequest(int seconds) {
    if (begin_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0))
      return true;
    pollfd p{sock_, POLLIN, 0};
    return ::poll(&p, 1, seconds * 1000) > 0 && (p.revents & POLLIN);
  }

  bool is_readable() const override { return begin_ < end_; }
  bool is_writable() const override {
    pollfd p{sock_, POLLOUT, 0};
    return ::poll(&p, 1, 30 * 1000) > 0 && (p.revents & POLLOUT);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      const auto allowed = std::chrono::seconds(limits_.header_seconds) +
                           std::chrono::seconds(received_ / limits_.min_bytes_per_second);
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(start_ + allowed - Clock::now())
              .count();
      if (left <= 0)
        return -1;  // too slow: the request is dropped
      if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
        pollfd p{sock_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 5000))) <= 0)
          return -1;
      }
      const ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, buffer_, sizeof buffer_)
                                        : ::recv(sock_, buffer_, sizeof buffer_, 0);
      if (n <= 0)
        return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
      received_ += static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    std::copy(buffer_ + begin_, buffer_ + begin_ + n, ptr);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable())
      return -1;
    if (ssl_ != nullptr)
      return SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    return ::send(sock_, ptr, size, MSG_NOSIGNAL);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len);
    ip = IpOf(addr, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len);
    ip = IpOf(addr, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  int sock_;
  SSL* ssl_;
  const ConnectionLimits& limits_;
  char buffer_[16 * 1024];
  size_t begin_ = 0;
  size_t end_ = 0;
  Clock::time_point start_ = Clock::now();
  size_t received_ = 0;
};

// Half-closes and discards what the client is still sending, briefly, so that it reads the
// answer instead of a reset (nginx's lingering close), then closes.
void LingeringClose(int sock) {
  ::shutdown(sock, SHUT_WR);
  char sink[16 * 1024];
  const auto until = Clock::now() + std::chrono::seconds(2);
  size_t drained = 0;
  while (Clock::now() < until && drained < (size_t{8} << 20)) {
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0)
      break;
    const ssize_t n = ::recv(sock, sink, sizeof sink, 0);
    if (n <= 0)
      break;
    drained += static_cast<size_t>(n);
  }
  ::close(sock);
}

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// The server side of the TLS handshake, bounded by `seconds` whatever the client does (a
// client that stops mid-handshake holds nothing past it). Null when it fails.
SslPtr Handshake(int sock, SSL_CTX* ctx, int seconds) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), sock) != 1)
    return nullptr;
  const int flags = ::fcntl(sock, F_GETFL);
  ::fcntl(sock, F_SETFL, flags | O_NONBLOCK);
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    const int rc = SSL_accept(ssl.get());
    if (rc == 1)
      break;
    const int err = SSL_get_error(ssl.get(), rc);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || left <= 0)
      return nullptr;  // a plain-HTTP client, an old protocol version, or too slow
    pollfd p{sock, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      return nullptr;
  }
  ::fcntl(sock, F_SETFL, flags & ~O_NONBLOCK);
  return ssl;
}

// The client a trusted proxy forwarded for: the right-most X-Forwarded-For entry that is not
// itself a trusted proxy (entries left of it could be written by the client).
void AttributeToClient(httplib::Request& req, const std::vector<IpRange>& proxies) {
  if (proxies.empty() || !AnyContains(proxies, req.remote_addr))
    return;
  const std::string chain = req.get_header_value("X-Forwarded-For");
  std::vector<std::string> hops;
  size_t start = 0;
  while (start <= chain.size()) {
    size_t comma = chain.find(',', start);
    if (comma == std::string::npos)
      comma = chain.size();
    std::string hop = chain.substr(start, comma - start);
    const size_t b = hop.find_first_not_of(" \t");
    const size_t e = hop.find_last_not_of(" \t");
    hops.push_back(b == std::string::npos ? "" : hop.substr(b, e - b + 1));
    start = comma + 1;
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!IsIpAddress(*it))
      return;  // malformed: keep the proxy's own address
    req.remote_addr = *it;
    if (!AnyContains(proxies, *it))
      return;
  }
}

}  // namespace

bool GuardedServer::process_and_close_socket(socket_t sock) {
  // Blocking reads and writes never wait longer than this, whatever a peer does mid-record.
  timeval backstop{30, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &backstop, sizeof backstop);
  ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &backstop, sizeof backstop);
  sockaddr_storage peer_addr{};
  socklen_t peer_len = sizeof peer_addr;
  ::getpeername(sock, reinterpret_cast<sockaddr*>(&peer_addr), &peer_len);
  int peer_port = 0;
  auto entry = registry_->Add(sock, IpOf(peer_addr, peer_port));
  registry_->SetWaiting(entry, true);  // a TLS handshake is waiting too
  SslPtr ssl;
  std::shared_ptr<TlsContext> context;  // kept for the connection's life, across reloads
  if (tls_ != nullptr) {
    context = tls_->Current();
    ssl = context ? Handshake(sock, context->get(), limits_.header_seconds) : nullptr;
    if (!ssl) {
      entry.reset();
      ::close(sock);
      return false;
    }
  }
  DeadlineStream stream(sock, ssl.get(), limits_);
  bool ok = true;
  bool linger = false;
  for (int served = 0; served < limits_.max_requests && is_running(); ++served) {
    registry_->SetWaiting(entry, true);
    if (!stream.WaitForRequest(served == 0 ? limits_.header_seconds : limits_.idle_seconds))
      break;
    stream.StartRequest();
    bool closed = false;
    bool close_after = false;
    ok = process_request(stream, served + 1 == limits_.max_requests, closed,
                         [&](httplib::Request& req) {
                           registry_->SetWaiting(entry, false);  // headers in: being served
                           AttributeToClient(req, proxies_);
                           close_after = must_close_(req);
                         });
    if (close_after) {
      linger = true;
      break;
    }
    if (!ok || closed)
      break;
  }
  entry.reset();  // no eviction may reach the descriptor once it is closed and reused
  if (ssl)
    SSL_shutdown(ssl.get());  // close_notify; the peer's answer is not awaited
  if (linger) {
    LingeringClose(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ok;
}

}  // namespace dxhub::web
