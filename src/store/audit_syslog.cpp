#include "store/audit_syslog.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "core/fs.h"

namespace dxhub::store {
namespace {

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 allows no other control characters, even escaped.
        if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
          out += '?';
        else
          out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string IsoTime(int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

std::string Code(const char* element, const char* code, const char* system, const char* text) {
  return std::string("<") + element + " csd-code=\"" + code + "\" codeSystemName=\"" + system +
         "\" originalText=\"" + text + "\"/>";
}

struct EventKind {
  const char* code;  // DCM event ID (PS3.15 A.5.3 / PS3.16 CID 400)
  const char* text;
  char action;  // C R U D E
  bool patient_data;
};

std::string Base64Encode(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// The cursor survives a crash at any point: written aside, synced, renamed over.
Status WriteCursor(const std::string& path, int64_t id) {
  const std::string text = std::to_string(id) + "\n";
  const std::string temp = path + ".tmp";
  DXHUB_TRY(fs::WriteFileSynced(
      temp, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  return fs::RenameDurable(temp, path);
}

bool StartsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

EventKind Classify(const std::string& action) {
  if (StartsWith(action, "login") || action == "logout")
    return {"110114", "User Authentication", 'E', false};
  if (action == "C-FIND")
    return {"110112", "Query", 'E', true};
  if (action == "C-MOVE" || action == "C-GET")
    return {"110106", "Export", 'R', true};
  if (StartsWith(action, "decision."))
    return {"110103", "DICOM Instances Accessed", 'U', true};
  if (action == "read")
    return {"110103", "DICOM Instances Accessed", 'R', true};
  if (StartsWith(action, "user.") || StartsWith(action, "token."))
    return {"110113", "Security Alert", 'E', false};
  return {"110100", "Application Activity", 'E', false};
}

bool Failed(const AuditEntry& e) {
  return e.action == "login.failed" || e.action == "login.throttled" ||
         e.detail.rfind("refused", 0) == 0 || e.detail.rfind("failed", 0) == 0;
}

}  // namespace

Result<SyslogTarget> ParseSyslogTarget(const std::string& url) {
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidArgument,
                     "audit-syslog '" + url +
                         "' must be udp://HOST:PORT, tcp://HOST:PORT or "
                         "tls://HOST:PORT");
  };
  SyslogTarget t;
  std::string rest;
  if (url.rfind("udp://", 0) == 0) {
    t.transport = SyslogTarget::Transport::kUdp;
    rest = url.substr(6);
  } else if (url.rfind("tcp://", 0) == 0) {
    t.transport = SyslogTarget::Transport::kTcp;
    rest = url.substr(6);
  } else if (url.rfind("tls://", 0) == 0) {
    t.transport = SyslogTarget::Transport::kTls;
    rest = url.substr(6);
  } else {
    return bad();
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return bad();
  t.host = rest.substr(0, colon);
  if (t.host.front() == '[' && t.host.back() == ']')
    t.host = t.host.substr(1, t.host.size() - 2);
  const std::string port = rest.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad();
  t.port = std::stoi(port);
  if (t.port < 1 || t.port > 65535)
    return bad();
  return t;
}

std::string AuditMessageXml(const AuditEntry& e, const std::string& source_id,
                            const std::string& aet) {
  const EventKind kind = Classify(e.action);
  const bool dimse = e.action.rfind("C-", 0) == 0;
  std::string x;
  x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
  x += "<AuditMessage>";
  x += std::string("<EventIdentification EventActionCode=\"") + kind.action +
       "\" EventDateTime=\"" + IsoTime(e.at_ms) + "\" EventOutcomeIndicator=\"" +
       (Failed(e) ? "4" : "0") + "\">";
  x += Code("EventID", kind.code, "DCM", kind.text);
  x += "<EventTypeCode csd-code=\"" + XmlEscape(e.action) +
       "\" codeSystemName=\"dxhub\" originalText=\"" + XmlEscape(e.action) + "\"/>";
  x += "</EventIdentification>";
  // The requestor: a user of the web app, or a remote AE (its title is its identity).
  x += "<ActiveParticipant UserID=\"" + XmlEscape(e.username) + "\"" +
       (dimse ? " AlternativeUserID=\"AETITLES=" + XmlEscape(e.username) + "\"" : "") +
       " UserIsRequestor=\"true\"";
  if (!e.remote.empty())
    x += " NetworkAccessPointID=\"" + XmlEscape(e.remote) + "\" NetworkAccessPointTypeCode=\"2\"";
  x += ">";
  x += Code("RoleIDCode", dimse ? "110153" : "110151", "DCM",
            dimse ? "Source Role ID" : "Application Launcher");
  x += "</ActiveParticipant>";
  x += "<ActiveParticipant UserID=\"" + XmlEscape(source_id) +
       "\" AlternativeUserID=\"AETITLES=" + XmlEscape(aet) + "\" UserIsRequestor=\"false\">";
  x += Code("RoleIDCode", "110150", "DCM", "Application");
  x += "</ActiveParticipant>";
  x += "<AuditSourceIdentification AuditSourceID=\"" + XmlEscape(source_id) + "\">";
  x += "<AuditSourceTypeCode csd-code=\"4\" codeSystemName=\"DCM\" originalText=\"Application "
       "Server Process\"/>";
  x += "</AuditSourceIdentification>";
  if (!e.object.empty() || !e.detail.empty()) {
    // A study (DIMSE query, retrieve, decision) or the resource path of an HTTP read.
    x += "<ParticipantObjectIdentification ParticipantObjectID=\"" + XmlEscape(e.object) +
         "\" ParticipantObjectTypeCode=\"" + (kind.patient_data ? "2" : "1") +
         "\" ParticipantObjectTypeCodeRole=\"" + (kind.patient_data ? "3" : "6") + "\">";
    x += kind.patient_data
             ? Code("ParticipantObjectIDTypeCode", "12", "RFC-3881", "URI")
             : Code("ParticipantObjectIDTypeCode", "11", "RFC-3881", "User Identifier");
    if (dimse) {
      x += "<ParticipantObjectQuery>" + Base64Encode(e.object) + "</ParticipantObjectQuery>";
    }
    if (!e.detail.empty()) {
      x += "<ParticipantObjectDetail type=\"detail\" value=\"" + Base64Encode(e.detail) + "\"/>";
    }
    x += "</ParticipantObjectIdentification>";
  }
  x += "</AuditMessage>";
  return x;
}

std::string SyslogMessage(const std::string& xml, int64_t at_ms, const std::string& hostname) {
  // <85>: facility 10 (security/authorization) * 8 + severity 5 (notice).
  return "<85>1 " + IsoTime(at_ms) + " " + (hostname.empty() ? "-" : hostname) + " dxhub " +
         std::to_string(::getpid()) + " DICOM+RFC3881 - \xEF\xBB\xBF" + xml;
}

// One connection to the collector; any failure closes it and the batch is resent later.
class AuditForwarder::Connection {
 public:
  ~Connection() {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_ != nullptr)
      SSL_CTX_free(ctx_);
    if (fd_ >= 0)
      ::close(fd_);
  }
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status Open(const SyslogTarget& t) {
    addrinfo hints{};
    hints.ai_socktype = t.transport == SyslogTarget::Transport::kUdp ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &found) != 0)
      return MakeError(ErrorCode::kUnavailable, "cannot resolve " + t.host);
    Status result = MakeError(ErrorCode::kUnavailable,
                              "cannot connect to " + t.host + ":" + std::to_string(t.port));
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
      if (fd_ < 0)
        continue;
      timeval limit{10, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      if (::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) {
        result = Ok();
        break;
      }
      ::close(fd_);
      fd_ = -1;
    }
    ::freeaddrinfo(found);
    if (!result.ok() || t.transport != SyslogTarget::Transport::kTls)
      return result;
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    const bool trusted = t.ca_file.empty()
                             ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                             : SSL_CTX_load_verify_locations(ctx_, t.ca_file.c_str(), nullptr) == 1;
    if (!trusted)
      return MakeError(ErrorCode::kInvalidArgument, "audit-syslog: cannot load CA " + t.ca_file);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, t.host.c_str());
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str()) != 1)
      X509_VERIFY_PARAM_set1_host(param, t.host.c_str(), 0);
    if (SSL_connect(ssl_) != 1) {
      char text[256];
      ERR_error_string_n(ERR_get_error(), text, sizeof text);
      ERR_clear_error();
      return MakeError(ErrorCode::kUnavailable, std::string("audit-syslog TLS: ") + text);
    }
    return Ok();
  }

  Status Send(const std::string& message, SyslogTarget::Transport transport) {
    std::string frame = transport == SyslogTarget::Transport::kUdp
                            ? message
                            : std::to_string(message.size()) + " " + message;  // octet counting
    const char* p = frame.data();
    size_t left = frame.size();
    while (left > 0) {
      const ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, p, static_cast<int>(left))
                                        : ::send(fd_, p, left, MSG_NOSIGNAL);
      if (n <= 0)
        return MakeError(ErrorCode::kUnavailable, "audit-syslog: the collector went away");
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Ok();
  }

  // Whether the collector has closed or reset the stream. A collector never sends anything, so
  // any readable byte (a TLS close_notify) means it is going away too. Checked before each
  // batch: syslog over TCP/TLS has no acknowledgements, and a write into a connection the peer
  // already closed would succeed locally and lose the batch.
  bool Closed() const {
    if (fd_ < 0)
      return true;
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0)
      return true;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

AuditForwarder::AuditForwarder(UserStore& users, SyslogTarget target, std::string cursor_path,
                               std::string source_id, std::string aet)
    : users_(users),
      target_(std::move(target)),
      cursor_path_(std::move(cursor_path)),
      source_id_(std::move(source_id)),
      aet_(std::move(aet)) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  hostname_ = host;
}

AuditForwarder::~AuditForwarder() {
  Stop();
}

Result<std::unique_ptr<AuditForwarder>> AuditForwarder::Start(UserStore& users, SyslogTarget target,
                                                              std::string cursor_path,
                                                              std::string source_id,
                                                              std::string aet) {
  std::unique_ptr<AuditForwarder> f(new AuditForwarder(  // NOLINT: private constructor
      users, std::move(target), std::move(cursor_path), std::move(source_id), std::move(aet)));
  std::ifstream in(f->cursor_path_);
  if (in)
    in >> f->cursor_;
  f->thread_ = std::thread([raw = f.get()] { raw->Loop(); });
  return f;
}

void AuditForwarder::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void AuditForwarder::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !thread_.joinable())
      return;
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

Status AuditForwarder::SendBatch() {
  for (;;) {
    auto rows = users_.AuditAfter(cursor_, 200);
    if (!rows.ok())
      return rows.error();
    if (rows->empty())
      return Ok();
    if (connection_ && target_.transport != SyslogTarget::Transport::kUdp && connection_->Closed())
      connection_.reset();
    if (!connection_) {
      auto c = std::make_unique<Connection>();
      DXHUB_TRY(c->Open(target_));
      connection_ = std::move(c);
    }
    int64_t last = cursor_;
    for (const auto& row : *rows) {
      Status sent = connection_->Send(
          SyslogMessage(AuditMessageXml(row, source_id_, aet_), row.at_ms, hostname_),
          target_.transport);
      if (!sent.ok()) {
        connection_.reset();
        if (last != cursor_)
          (void)WriteCursor(cursor_path_, last);
        cursor_ = last;
        return sent;
      }
      last = row.id;
      ++sent_;
    }
    DXHUB_TRY(WriteCursor(cursor_path_, last));
    cursor_ = last;
  }
}

void AuditForwarder::Loop() {
  auto backoff = std::chrono::milliseconds(500);
  bool reported = false;
  for (;;) {
    Status st = SendBatch();
    if (st.ok()) {
      if (reported)
        spdlog::info("audit-syslog: the collector is back; sending resumed");
      reported = false;
      backoff = std::chrono::milliseconds(500);
    } else if (!reported) {
      spdlog::warn("audit-syslog: {}; audit events are kept and sent when it returns",
                   st.error().message);
      reported = true;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, st.ok() ? std::chrono::milliseconds(1000) : backoff,
                 [&] { return stopping_ || (st.ok() && woken_); });
    woken_ = false;
    if (stopping_)
      return;
    if (!st.ok())
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
  }
}

}  // namespace dxhub::store
