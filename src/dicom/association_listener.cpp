#include "dicom/association_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace dxhub::dicom {
namespace {

using Clock = std::chrono::steady_clock;

// The A-ASSOCIATE-RQ PDU (PS3.8 9.3.2): type 0x01, a reserved byte, a 32-bit length. Real ones
// are a few KiB (storescu's 128 contexts: ~15 KiB); anything far larger is not a modality.
constexpr uint8_t kAssociateRqType = 0x01;
constexpr size_t kPduHeader = 6;
constexpr uint32_t kMaxAssociateRq = 64 * 1024;

// Per-address connection counts, shared with the slots handed out (which may outlive a stopped
// listener while their associations finish).
class HostTable : public std::enable_shared_from_this<HostTable> {
 public:
  explicit HostTable(int max_per_host) : max_per_host_(max_per_host) {}

  HostSlotPtr Acquire(const std::string& ip) {
    std::lock_guard lock(mu_);
    int& n = counts_[ip];
    if (n >= max_per_host_)
      return nullptr;
    ++n;
    return std::make_unique<Slot>(shared_from_this(), ip);
  }

 private:
  class Slot final : public HostSlot {
   public:
    Slot(std::shared_ptr<HostTable> table, std::string ip)
        : table_(std::move(table)), ip_(std::move(ip)) {}
    ~Slot() override { table_->Release(ip_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    std::shared_ptr<HostTable> table_;
    std::string ip_;
  };

  void Release(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto it = counts_.find(ip);
    if (it != counts_.end() && --it->second <= 0)
      counts_.erase(it);
  }

  const int max_per_host_;
  std::mutex mu_;
  std::map<std::string, int> counts_;  // guarded by mu_
};

std::string PeerIp(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    // An IPv4 peer on a dual-stack socket: report it as IPv4, as operators configure it.
    const std::string s = text;
    if (s.rfind("::ffff:", 0) == 0 && s.find('.') != std::string::npos)
      return s.substr(7);
  }
  return text;
}

void SetLowWater(int fd, int bytes) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

class ListenerImpl final : public AssociationListener {
 public:
  ListenerImpl(const ListenerOptions& options, Handoff handoff)
      : options_(options),
        handoff_(std::move(handoff)),
        hosts_(std::make_shared<HostTable>(std::max(1, options.max_per_host))) {}
  ~ListenerImpl() override { Stop(); }
  ListenerImpl(const ListenerImpl&) = delete;
  ListenerImpl& operator=(const ListenerImpl&) = delete;

  Status Bind() {
    const bool v6 = options_.bind.find(':') != std::string::npos;
    listen_fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0)
      return MakeError(ErrorCode::kUnavailable, "DICOM listener: socket() failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (v6) {
      int zero = 0;
      ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(options_.port));
      if (::inet_pton(AF_INET6, options_.bind.c_str(), &a->sin6_addr) != 1)
        return MakeError(ErrorCode::kInvalidArgument, "bad DICOM bind address " + options_.bind);
      len = sizeof(sockaddr_in6);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(options_.port));
      if (::inet_pton(AF_INET, options_.bind.c_str(), &a->sin_addr) != 1)
        return MakeError(ErrorCode::kInvalidArgument, "bad DICOM bind address " + options_.bind);
      len = sizeof(sockaddr_in);
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 512) != 0) {
      return MakeError(ErrorCode::kUnavailable, "cannot bind DICOM port " + options_.bind + ":" +
                                                    std::to_string(options_.port) +
                                                    " (in use by another program?)");
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    thread_ = std::thread([this] { Loop(); });
    return Ok();
  }

  int port() const override { return port_; }

  void Stop() override {
    if (!thread_.joinable())
      return;
    stopping_ = true;
    thread_.join();
    for (auto& w : waiting_)
      ::close(w.fd);
    waiting_.clear();
    ::close(listen_fd_);
    listen_fd_ = -1;
  }

 private:
  struct Waiting {
    int fd;
    std::string ip;
    HostSlotPtr slot;
    Clock::time_point deadline;
    uint32_t need = 0;  // total bytes of the PDU once its header was seen
  };

  void Loop() {
    std::vector<pollfd> fds;
    while (!stopping_) {
      fds.clear();
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const auto& w : waiting_)
        fds.push_back({w.fd, POLLIN | POLLRDHUP, 0});
      // A short tick: deadlines and Stop() need no other wake-up.
      const int n = ::poll(fds.data(), fds.size(), 200);
      if (n < 0 && errno != EINTR) {
        spdlog::error("dicom: poll failed: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      const auto now = Clock::now();
      // Waiting connections first (the vector is rebuilt below).
      std::vector<Waiting> still;
      still.reserve(waiting_.size());
      for (size_t i = 0; i < waiting_.size(); ++i) {
        Waiting& w = waiting_[i];
        const short revents = fds[i + 1].revents;
        if (revents != 0) {
          if (Examine(w))
            continue;  // handed off or closed
          if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            ::close(w.fd);  // gone with its request unfinished
            continue;
          }
        }
        if (now >= w.deadline) {
          spdlog::warn("dicom: {} sent no association request within {} s; closed", w.ip,
                       options_.request_timeout_s);
          ::close(w.fd);
          continue;
        }
        still.push_back(std::move(w));
      }
      waiting_ = std::move(still);
      if (fds[0].revents & POLLIN)
        AcceptAll(now);
    }
  }

  void AcceptAll(Clock::time_point now) {
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                               SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        return;  // EAGAIN: no more; other errors (EMFILE): retried on the next tick
      std::string ip = PeerIp(addr);
      if (static_cast<int>(waiting_.size()) >= options_.max_waiting) {
        spdlog::warn("dicom: {} connections waiting for association requests; closing {}",
                     waiting_.size(), ip);
        ::close(fd);
        continue;
      }
      HostSlotPtr slot = hosts_->Acquire(ip);
      if (!slot) {
        spdlog::warn("dicom: {} already has {} connections open; closing the new one", ip,
                     options_.max_per_host);
        ::close(fd);
        continue;
      }
      SetLowWater(fd, static_cast<int>(kPduHeader));
      waiting_.push_back({fd, std::move(ip), std::move(slot),
                          now + std::chrono::seconds(options_.request_timeout_s), 0});
    }
  }

  // Looks at what `w` has sent so far. True when it is no longer waiting (handed off, closed).
  bool Examine(Waiting& w) {
    uint8_t header[kPduHeader];
    const ssize_t got = ::recv(w.fd, header, sizeof header, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
      ::close(w.fd);  // closed before sending a request: nothing to answer
      return true;
    }
    if (got < static_cast<ssize_t>(kPduHeader))
      return false;
    if (options_.tls)
      return ExamineTls(w, header);
    if (header[0] != kAssociateRqType) {
      // Not DICOM (a TLS ClientHello on the plain port, HTTP, a port scanner): no upper-layer
      // answer would be understood.
      spdlog::warn("dicom: {} sent 0x{:02x}, not an A-ASSOCIATE-RQ; closed", w.ip, header[0]);
      ::close(w.fd);
      return true;
    }
    const uint32_t length = (uint32_t{header[2]} << 24) | (uint32_t{header[3]} << 16) |
                            (uint32_t{header[4]} << 8) | uint32_t{header[5]};
    if (length > kMaxAssociateRq) {
      spdlog::warn("dicom: {} announced a {}-byte association request; closed", w.ip, length);
      ::close(w.fd);
      return true;
    }
    return HandOffOnce(w, static_cast<uint32_t>(kPduHeader) + length);
  }

  // Hands `w` on once `need` bytes are buffered; until then poll() sleeps (SO_RCVLOWAT) instead
  // of waking on every segment. True when handed on.
  bool HandOffOnce(Waiting& w, uint32_t need) {
    int available = 0;
    ::ioctl(w.fd, FIONREAD, &available);
    if (available < static_cast<int>(need)) {
      if (w.need != need) {
        w.need = need;
        SetLowWater(w.fd, static_cast<int>(need));
      }
      return false;
    }
    HandOff(w);
    return true;
  }

  void HandOff(Waiting& w) {
    SetLowWater(w.fd, 1);
    const int flags = ::fcntl(w.fd, F_GETFL);
    ::fcntl(w.fd, F_SETFL, flags & ~O_NONBLOCK);
    handoff_(ReadyConnection{w.fd, std::move(w.ip), std::move(w.slot)});
  }

  // A TLS record (PS: RFC 8446 5.1): type 0x16 handshake, version 3.x, 16-bit length.
  bool ExamineTls(Waiting& w, const uint8_t* header) {
    if (header[0] != 0x16 || header[1] != 3) {
      // Plain DICOM (0x01) or anything else on the TLS port: nothing it would understand.
      spdlog::warn("dicom: {} sent 0x{:02x} to the TLS port, not a TLS handshake; closed", w.ip,
                   header[0]);
      ::close(w.fd);
      return true;
    }
    return HandOffOnce(w, 5 + ((uint32_t{header[3]} << 8) | uint32_t{header[4]}));
  }

  ListenerOptions options_;
  Handoff handoff_;
  std::shared_ptr<HostTable> hosts_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<Waiting> waiting_;  // owned by the accept thread
};

}  // namespace

Result<AssociationListenerPtr> StartAssociationListener(const ListenerOptions& options,
                                                        AssociationListener::Handoff handoff) {
  auto listener = std::make_unique<ListenerImpl>(options, std::move(handoff));
  DXHUB_TRY(listener->Bind());
  return AssociationListenerPtr(std::move(listener));
}

}  // namespace dxhub::dicom
