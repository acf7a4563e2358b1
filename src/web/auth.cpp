#include "web/auth.h"

#include <argon2.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "core/fs.h"
#include "core/hash.h"
#include "core/strings.h"

namespace dxhub::web {
namespace {

constexpr uint32_t kTimeCost = 2;
constexpr uint32_t kMemoryKiB = 19 * 1024;
constexpr uint32_t kLanes = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xF]);
  }
  return out;
}

}  // namespace

Result<Role> ParseRole(const std::string& text) {
  if (text == "admin")
    return Role::kAdmin;
  if (text == "radiologist")
    return Role::kRadiologist;
  if (text == "clinician")
    return Role::kClinician;
  if (text == "viewer")
    return Role::kViewer;
  if (text == "researcher")
    return Role::kResearcher;
  return MakeError(ErrorCode::kInvalidArgument,
                   "role must be admin, radiologist, clinician, viewer or researcher");
}

bool RoleAtLeast(const std::string& role, Role required) {
  auto parsed = ParseRole(role);
  return parsed.ok() && static_cast<int>(*parsed) >= static_cast<int>(required);
}

Status CheckPasswordPolicy(const std::string& password) {
  if (password.size() < 12)
    return MakeError(ErrorCode::kInvalidArgument, "passwords need at least 12 characters");
  if (password.size() > 1024)
    return MakeError(ErrorCode::kInvalidArgument, "passwords are at most 1024 characters");
  return Ok();
}

Result<std::string> HashPassword(const std::string& password) {
  std::array<unsigned char, kSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    return MakeError(ErrorCode::kInternal, "no randomness for a salt");
  const size_t length =
      argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id);
  std::string encoded(length, '\0');
  const int rc =
      argon2id_hash_encoded(kTimeCost, kMemoryKiB, kLanes, password.data(), password.size(),
                            salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK)
    return MakeError(ErrorCode::kInternal, std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(encoded.find('\0'));
  return encoded;
}

bool VerifyPassword(const std::string& encoded, const std::string& password) {
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

std::string NewToken() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    std::abort();  // no randomness: issuing a guessable token would be worse than stopping
  return Hex(bytes.data(), bytes.size());
}

std::string CookieValue(const std::string& header, const std::string& name) {
  for (const auto& part : Split(header, ";")) {
    const size_t start = part.find_first_not_of(' ');
    if (start == std::string::npos)
      continue;
    const std::string item = part.substr(start);
    if (item.rfind(name + "=", 0) == 0)
      return item.substr(name.size() + 1);
  }
  return {};
}

std::string TokenHash(const std::string& token) {
  return Sha256Hex(token);
}

std::string AuditableName(const std::string& text) {
  std::string out;
  for (unsigned char ch : text) {
    if (out.size() >= 64) {
      out += "...";
      break;
    }
    out += (ch < 0x20 || ch == 0x7f) ? '?' : static_cast<char>(ch);
  }
  return out;
}

Result<LoginResult> Auth::Login(const std::string& username, const std::string& password,
                                const std::string& remote) {
  const int64_t now = clock_.NowMillis();
  const auto refused = MakeError(ErrorCode::kUnauthorized, "wrong username or password");
  const std::string who = AuditableName(username);
  auto audit = [&](const std::string& action, const std::string& detail) {
    (void)users_.Audit({now, who, action, "", remote, detail});
  };
  if (throttle_.Blocked(remote, who, now)) {
    if (throttle_.ShouldAudit(remote, now))
      audit("login.throttled", "too many failed sign-ins from this address");
    return MakeError(ErrorCode::kTooManyRequests,
                     "too many failed sign-ins from this address; try again in 15 minutes");
  }
  // Unknown, disabled, locked and wrong-password attempts do the same work and get the same
  // answer, so neither the message nor the time tells which usernames exist or their state.
  static const std::string kDummy = HashPassword("dxhub-timing-dummy").value();
  std::optional<store::UserRecord> user;
  if (username.size() <= 256) {
    auto found = users_.FindUser(username);
    if (!found.ok())
      return found.error();
    user = std::move(found.value());
  }
  const bool password_ok = VerifyPassword(user ? user->password_hash : kDummy, password);
  std::string why;
  if (!user)
    why = "unknown user";
  else if (user->disabled)
    why = "account disabled";
  else if (user->locked_until_ms > now)
    why = "account locked";
  else if (!password_ok)
    why = "wrong password";
  if (!why.empty()) {
    throttle_.Failure(remote, who, now);
    if (user && !password_ok) {
      DXHUB_TRY(users_.RecordLogin(username, false, options_.lock_after_failures,
                                   now + options_.lock_ms));
    }
    audit("login.failed", why);
    return refused;
  }
  const store::UserRecord& u = *user;
  throttle_.Success(remote, who);
  DXHUB_TRY(users_.RecordLogin(username, true, 0, 0));
  LoginResult result{NewToken(), NewToken(), u, now + options_.session_ms};
  DXHUB_TRY(users_.CreateSession(TokenHash(result.session_token), u.id, result.csrf_token, now,
                                 result.expires_ms, remote));
  audit("login", "");
  return result;
}

Result<std::optional<store::SessionRecord>> Auth::Session(const std::string& session_token) {
  if (session_token.size() != 64)
    return std::optional<store::SessionRecord>();
  return users_.FindSession(TokenHash(session_token), clock_.NowMillis());
}

Status Auth::Logout(const std::string& session_token) {
  return users_.DeleteSession(TokenHash(session_token));
}

Result<std::string> Auth::IssueApiToken(const std::string& username, const std::string& name,
                                        int64_t valid_ms) {
  auto user = users_.FindUser(username);
  if (!user.ok())
    return user.error();
  if (!user->has_value())
    return MakeError(ErrorCode::kNotFound, "no user '" + username + "'");
  const int64_t now = clock_.NowMillis();
  std::string token = NewToken();
  DXHUB_TRY(users_.CreateApiToken(TokenHash(token), (*user)->id, name, now,
                                  valid_ms > 0 ? now + valid_ms : 0));
  return token;
}

Result<std::optional<store::UserRecord>> Auth::ApiTokenUser(const std::string& token) {
  if (token.size() != 64)
    return std::optional<store::UserRecord>();
  auto user = users_.FindApiToken(TokenHash(token), clock_.NowMillis());
  // A locked account's tokens stop working with it (disabled ones are revoked by the store).
  if (user.ok() && user->has_value() && (*user)->locked_until_ms > clock_.NowMillis())
    return std::optional<store::UserRecord>();
  return user;
}

Result<std::optional<std::string>> Auth::EnsureInitialAdmin(const std::string& path) {
  auto count = users_.CountUsers();
  if (!count.ok())
    return count.error();
  if (*count > 0)
    return std::optional<std::string>();
  // 24 hex digits (96 bits) from the token generator: strong, and easy to type once.
  std::string password = NewToken().substr(0, 24);
  auto hash = HashPassword(password);
  if (!hash.ok())
    return hash.error();
  store::UserRecord admin;
  admin.username = "admin";
  admin.display_name = "Administrator";
  admin.role = "admin";
  admin.password_hash = *hash;
  // The file first (0600, fsync'd): an account whose password was never shown is unusable.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return fs::ErrnoError(errno, "create " + path);
  const std::string line = password + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written)
    return MakeError(ErrorCode::kIo, "cannot write " + path);
  DXHUB_TRY(users_.CreateUser(admin, clock_.NowMillis()));
  return std::optional<std::string>(password);
}

}  // namespace dxhub::web
