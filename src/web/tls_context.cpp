#include "web/tls_context.h"

#include <openssl/err.h>

namespace dxhub::web {
namespace {

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  if (code == 0)
    return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

// TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (BCP 195, Mozilla's
// "intermediate" profile). TLS 1.3 keeps OpenSSL's defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

Result<std::shared_ptr<TlsContext>> TlsContext::Load(const std::string& cert_file,
                                                     const std::string& key_file) {
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr)
    return MakeError(ErrorCode::kInternal, "TLS: " + OpenSslError());
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw));  // NOLINT: private constructor
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(raw, kTls12Ciphers) != 1)
    return MakeError(ErrorCode::kInternal, "TLS cipher list: " + OpenSslError());
  if (SSL_CTX_use_certificate_chain_file(raw, cert_file.c_str()) != 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "TLS certificate " + cert_file + ": " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(raw, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return MakeError(ErrorCode::kInvalidArgument, "TLS key " + key_file + ": " + OpenSslError());
  if (SSL_CTX_check_private_key(raw) != 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "TLS key " + key_file + " does not match certificate " + cert_file);
  }
  return ctx;
}

Status TlsContextHolder::Reload() {
  auto loaded = TlsContext::Load(cert_file_, key_file_);
  if (!loaded.ok())
    return loaded.error();
  std::lock_guard lock(mu_);
  current_ = std::move(loaded.value());
  return Ok();
}

std::shared_ptr<TlsContext> TlsContextHolder::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace dxhub::web
