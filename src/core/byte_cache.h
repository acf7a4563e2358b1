#pragma once
// A bounded, thread-safe LRU cache of immutable byte strings (rendered frames, thumbnails,
// metadata JSON). Keys must name the content, not its location (e.g. the SHA-256 of the stored
// file plus the rendering options), so an entry can never go stale: a replaced instance has a
// new hash and its old entries simply age out.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace dxhub {

class ByteCache {
 public:
  using Value = std::shared_ptr<const std::string>;

  /// `capacity_bytes` bounds the sum of the values' sizes; 0 disables the cache.
  explicit ByteCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  /// The cached value, marked most recently used; null when absent.
  Value Get(const std::string& key);
  /// Inserts or replaces; evicts least recently used entries to stay within capacity. A value
  /// larger than a quarter of the capacity is not cached (it would flush everything else).
  void Put(const std::string& key, std::string value);

  struct Stats {
    size_t entries = 0;
    size_t bytes = 0;
    uint64_t hits = 0;
    uint64_t misses = 0;
  };
  Stats GetStats() const;

 private:
  struct Entry {
    std::string key;
    Value value;
  };
  void EvictLocked();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace dxhub
