#pragma once
// The HTTPS server's TLS settings: certificate and key from files, TLS 1.2 and 1.3 only (BCP 195),
// forward-secret AEAD cipher suites, no renegotiation, no compression. Reloadable: a SIGHUP
// builds a new context from the files; connections already open keep the one they started with.

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"

namespace dxhub::web {

/// Owns one SSL_CTX.
class TlsContext {
 public:
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  /// kInvalidArgument naming the file when the certificate or key cannot be used.
  static Result<std::shared_ptr<TlsContext>> Load(const std::string& cert_file,
                                                  const std::string& key_file);
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

/// The current context, swapped whole on reload. Thread-safe.
class TlsContextHolder {
 public:
  TlsContextHolder(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}
  /// Loads the files again; on failure the previous context stays in use.
  Status Reload();
  std::shared_ptr<TlsContext> Current() const;

 private:
  std::string cert_file_;
  std::string key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<TlsContext> current_;  // guarded by mu_
};

}  // namespace dxhub::web
