#pragma once
// Failed sign-ins counted per client address and per (account, address). An address that keeps
// failing is turned away before any password is checked, and an account is only ever throttled
// for the address that failed on it: one attacker can neither keep guessing nor lock the
// administrator out of everyone else's reach (the account-wide lock in the user store needs
// failures from many addresses; see AuthOptions).
//
// Kept in memory, per process: a restart forgets it, which costs an attacker nothing they could
// not also get by waiting out the window.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace dxhub::web {

struct ThrottleOptions {
  int per_address = 20;         // failures from one address, any accounts, within the window
  int per_account_address = 5;  // failures on one account from one address
  int64_t window_ms = int64_t{15} * 60 * 1000;
  size_t max_entries = 100000;  // bounded memory under a flood of addresses
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottleOptions options = {}) : options_(options) {}

  /// True when a sign-in for `account` from `address` is to be refused unchecked.
  bool Blocked(const std::string& address, const std::string& account, int64_t now_ms);
  void Failure(const std::string& address, const std::string& account, int64_t now_ms);
  /// A successful sign-in clears the account's count for that address.
  void Success(const std::string& address, const std::string& account);
  /// True at most once per minute per address: whether to audit a refused attempt (a flood of
  /// refused attempts must not flood the audit log).
  bool ShouldAudit(const std::string& address, int64_t now_ms);

 private:
  struct Count {
    int failures = 0;
    int64_t window_start_ms = 0;
  };
  void Bump(std::map<std::string, Count>& map, const std::string& key, int64_t now_ms);
  int Current(const std::map<std::string, Count>& map, const std::string& key,
              int64_t now_ms) const;
  void Trim(int64_t now_ms);

  ThrottleOptions options_;
  std::mutex mu_;
  std::map<std::string, Count> by_address_;          // guarded by mu_
  std::map<std::string, Count> by_account_address_;  // guarded by mu_: "address\naccount"
  std::map<std::string, int64_t> audited_at_;        // guarded by mu_
};

}  // namespace dxhub::web
