#include "web/http_connection.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

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

// A plain TCP stream with a read buffer (httplib's line reader reads byte by byte) and a
// per-request deadline: `header_seconds` plus one second per `min_bytes_per_second` received.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, const ConnectionLimits& limits) : sock_(sock), limits_(limits) {}

  void StartRequest() {
    start_ = Clock::now();
    received_ = 0;
  }
  /// Waits up to `seconds` for the next request's first byte.
  bool WaitForRequest(int seconds) {
    if (begin_ < end_)
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
      pollfd p{sock_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 5000))) <= 0)
        return -1;
      const ssize_t n = ::recv(sock_, buffer_, sizeof buffer_, 0);
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

}  // namespace

bool GuardedServer::process_and_close_socket(socket_t sock) {
  DeadlineStream stream(sock, limits_);
  bool ok = true;
  bool linger = false;
  for (int served = 0; served < limits_.max_requests && is_running(); ++served) {
    if (!stream.WaitForRequest(served == 0 ? limits_.header_seconds : limits_.idle_seconds))
      break;
    stream.StartRequest();
    bool closed = false;
    bool close_after = false;
    ok = process_request(stream, served + 1 == limits_.max_requests, closed,
                         [&](httplib::Request& req) { close_after = must_close_(req); });
    if (close_after) {
      linger = true;
      break;
    }
    if (!ok || closed)
      break;
  }
  if (linger) {
    LingeringClose(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ok;
}

}  // namespace dxhub::web
