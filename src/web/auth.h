#pragma once
// Accounts policy: argon2id password hashes, login with lock-out, session and API tokens, roles,
// and the first-start admin account. Storage is store::UserStore; this decides what is allowed.
// (Enforcement on every /api and /dicom-web route comes with the web platform issue; these are
// the pieces it stands on.)

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "store/user_store.h"
#include "web/login_throttle.h"

namespace dxhub::web {

/// A researcher ranks below a viewer: they see no patient data at all, only the de-identified
/// exports of the projects they belong to.
enum class Role { kResearcher = -1, kViewer = 0, kClinician = 1, kRadiologist = 2, kAdmin = 3 };

/// "admin", "radiologist", "clinician", "viewer" or "researcher"; kInvalidArgument otherwise.
Result<Role> ParseRole(const std::string& text);
/// Roles are ordered: an admin may do what a radiologist may, and so on down.
bool RoleAtLeast(const std::string& role, Role required);

/// argon2id (RFC 9106), the encoded form with its salt and parameters. Parameters follow
/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
Result<std::string> HashPassword(const std::string& password);
bool VerifyPassword(const std::string& encoded, const std::string& password);
/// At least 12 characters; kInvalidArgument with the reason otherwise.
Status CheckPasswordPolicy(const std::string& password);

/// A new random secret (256 bits) as 64 hex digits: session cookies, API tokens, CSRF tokens.
std::string NewToken();
/// The value of cookie `name` in a Cookie header; "" if it is not there.
std::string CookieValue(const std::string& header, const std::string& name);
/// What the store keeps of a token: its SHA-256.
std::string TokenHash(const std::string& token);

/// The audit log's form of a name a client sent: at most 64 characters, control characters
/// replaced (a failed login once stored a 1 MiB username verbatim).
std::string AuditableName(const std::string& text);

struct AuthOptions {
  /// The account-wide lock. One address is throttled long before (LoginThrottle: 5 failures per
  /// account, 20 in all, per 15 minutes), so reaching this takes failures from many addresses: a
  /// distributed attack, which locks the account (and its API tokens) until an administrator
  /// resets the password or the time passes.
  int lock_after_failures = 50;
  int64_t lock_ms = int64_t{15} * 60 * 1000;
  int64_t session_ms = int64_t{8} * 60 * 60 * 1000;  // a working shift
};

struct LoginResult {
  std::string session_token;  // for the cookie
  std::string csrf_token;     // to echo in a header on state-changing requests
  store::UserRecord user;
  int64_t expires_ms = 0;
};

class Auth {
 public:
  Auth(store::UserStore& users, const Clock& clock, AuthOptions options = {})
      : users_(users), clock_(clock), options_(options) {}

  /// kUnauthorized for an unknown user, a wrong password, a disabled or locked account (one
  /// message and the same work for all, so neither tells which usernames exist);
  /// kTooManyRequests for an address over its failure budget. Attempts are audited (refused
  /// ones from a throttled address at most once a minute).
  Result<LoginResult> Login(const std::string& username, const std::string& password,
                            const std::string& remote);
  /// The session's user, or nullopt when the token is unknown or expired.
  Result<std::optional<store::SessionRecord>> Session(const std::string& session_token);
  Status Logout(const std::string& session_token);
  /// A new API token for `username` (printed once; only its hash is kept).
  Result<std::string> IssueApiToken(const std::string& username, const std::string& name,
                                    int64_t valid_ms);
  Result<std::optional<store::UserRecord>> ApiTokenUser(const std::string& token);

  /// On an empty user table: creates `admin` with a random password, writes it to `path`
  /// (mode 0600) and returns it; nullopt when users already exist.
  Result<std::optional<std::string>> EnsureInitialAdmin(const std::string& path);

 private:
  store::UserStore& users_;
  const Clock& clock_;
  AuthOptions options_;
  LoginThrottle throttle_;
};

}  // namespace dxhub::web
