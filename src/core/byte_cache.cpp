#include "core/byte_cache.h"

namespace dxhub {

ByteCache::Value ByteCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void ByteCache::Put(const std::string& key, std::string value) {
  if (value.size() > capacity_ / 4)
    return;
  auto shared = std::make_shared<const std::string>(std::move(value));
  std::lock_guard lock(mu_);
  if (auto it = map_.find(key); it != map_.end()) {
    bytes_ -= it->second->value->size();
    lru_.erase(it->second);
    map_.erase(it);
  }
  bytes_ += shared->size();
  lru_.push_front({key, std::move(shared)});
  map_[key] = lru_.begin();
  EvictLocked();
}

void ByteCache::EvictLocked() {
  while (bytes_ > capacity_ && !lru_.empty()) {
    bytes_ -= lru_.back().value->size();
    map_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

ByteCache::Stats ByteCache::GetStats() const {
  std::lock_guard lock(mu_);
  return {map_.size(), bytes_, hits_, misses_};
}

}  // namespace dxhub
