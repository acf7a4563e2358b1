#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dxhub {

/// Incremental SHA-256 (OpenSSL EVP). Used for blob keys and content checksums.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data);
  /// Lower-case hex digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // pimpl keeps OpenSSL out of every includer
};

std::string Sha256Hex(std::string_view data);
/// `bytes` bytes from the system's cryptographic random source, as hex.
std::string RandomHex(size_t bytes);
/// HMAC-SHA256 of `data` under `key` (RFC 2104), 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

/// SHA-256 of a whole file, read in chunks. With `sync`, the file is also fsync'd through the same
/// descriptor (the ingest path needs both, and every extra open/close shows up per instance).
Result<std::string> Sha256File(const std::string& path, bool sync = false);

}  // namespace dxhub
