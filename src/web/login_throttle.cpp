#include "web/login_throttle.h"

namespace dxhub::web {

int LoginThrottle::Current(const std::map<std::string, Count>& map, const std::string& key,
                           int64_t now_ms) const {
  auto it = map.find(key);
  if (it == map.end() || now_ms - it->second.window_start_ms >= options_.window_ms)
    return 0;
  return it->second.failures;
}

void LoginThrottle::Bump(std::map<std::string, Count>& map, const std::string& key,
                         int64_t now_ms) {
  Count& c = map[key];
  if (now_ms - c.window_start_ms >= options_.window_ms)
    c = Count{0, now_ms};
  ++c.failures;
}

void LoginThrottle::Trim(int64_t now_ms) {
  for (auto* map : {&by_address_, &by_account_address_}) {
    if (map->size() <= options_.max_entries)
      continue;
    for (auto it = map->begin(); it != map->end();) {
      it = now_ms - it->second.window_start_ms >= options_.window_ms ? map->erase(it)
                                                                     : std::next(it);
    }
    // Still full of live entries: forget the oldest half rather than grow without bound.
    while (map->size() > options_.max_entries / 2)
      map->erase(map->begin());
  }
  if (audited_at_.size() > options_.max_entries)
    audited_at_.clear();
}

bool LoginThrottle::Blocked(const std::string& address, const std::string& account,
                            int64_t now_ms) {
  std::lock_guard lock(mu_);
  return Current(by_address_, address, now_ms) >= options_.per_address ||
         Current(by_account_address_, address + "\n" + account, now_ms) >=
             options_.per_account_address;
}

void LoginThrottle::Failure(const std::string& address, const std::string& account,
                            int64_t now_ms) {
  std::lock_guard lock(mu_);
  Bump(by_address_, address, now_ms);
  Bump(by_account_address_, address + "\n" + account, now_ms);
  Trim(now_ms);
}

void LoginThrottle::Success(const std::string& address, const std::string& account) {
  std::lock_guard lock(mu_);
  by_account_address_.erase(address + "\n" + account);
}

bool LoginThrottle::ShouldAudit(const std::string& address, int64_t now_ms) {
  std::lock_guard lock(mu_);
  int64_t& last = audited_at_[address];
  if (last != 0 && now_ms - last < int64_t{60} * 1000)
    return false;
  last = now_ms;
  return true;
}

}  // namespace dxhub::web
