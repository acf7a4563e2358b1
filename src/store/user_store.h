#pragma once
// Accounts, sessions, API tokens and the audit log, in the index database. Policy (password
// hashing, lock-out, expiry, roles) lives in web/auth; this is storage only.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::store {

struct UserRecord {
  int64_t id = 0;
  std::string username;
  std::string display_name;
  std::string role;           // admin, radiologist, clinician, viewer
  std::string password_hash;  // argon2id encoded
  bool disabled = false;
  int failed_logins = 0;
  int64_t locked_until_ms = 0;
  int64_t created_ms = 0;
  /// The institution the user belongs to (store/institution_store.h) and so sees; 0: none, a
  /// user of the whole region.
  int64_t institution = 0;
  std::string institution_name;  // read only: filled in from `institution`
};

struct SessionRecord {
  UserRecord user;
  std::string csrf_token;
  int64_t expires_ms = 0;
};

struct AuditEntry {
  int64_t at_ms = 0;
  std::string username;
  std::string action;
  std::string object;
  std::string remote;
  std::string detail;
  int64_t id = 0;  // assigned by the store; increasing
};

/// An API token as administrators see it (never the token itself: only its hash is kept).
struct ApiTokenRecord {
  int64_t id = 0;
  std::string name;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: no expiry
  int64_t revoked_ms = 0;  // 0: not revoked
};

class UserStore {
 public:
  virtual ~UserStore() = default;

  virtual Result<int64_t> CountUsers() = 0;
  /// kAlreadyExists when the username is taken.
  virtual Status CreateUser(const UserRecord& user, int64_t now_ms) = 0;
  virtual Result<std::optional<UserRecord>> FindUser(const std::string& username) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;
  /// Also clears failed logins and any lock; ends the user's sessions and revokes their API
  /// tokens (a token must not outlive the password it was issued under).
  virtual Status SetPassword(const std::string& username, const std::string& password_hash,
                             int64_t now_ms) = 0;
  /// Disabling ends the user's sessions and revokes their API tokens.
  virtual Status SetDisabled(const std::string& username, bool disabled) = 0;
  virtual Status SetRole(const std::string& username, const std::string& role) = 0;
  /// Moves the user to `institution` (0: none, the whole region).
  virtual Status SetInstitution(const std::string& username, int64_t institution) = 0;
  /// Records a login attempt's outcome: success clears the counter; a failure increments it and,
  /// at `lock_after` failures, locks the account until `lock_until_ms`.
  virtual Status RecordLogin(const std::string& username, bool success, int lock_after,
                             int64_t lock_until_ms) = 0;

  virtual Status CreateSession(const std::string& token_hash, int64_t user_id,
                               const std::string& csrf_token, int64_t now_ms, int64_t expires_ms,
                               const std::string& remote) = 0;
  /// The session and its user, if the session exists and has not expired.
  virtual Result<std::optional<SessionRecord>> FindSession(const std::string& token_hash,
                                                           int64_t now_ms) = 0;
  virtual Status DeleteSession(const std::string& token_hash) = 0;

  virtual Status CreateApiToken(const std::string& token_hash, int64_t user_id,
                                const std::string& name, int64_t now_ms, int64_t expires_ms) = 0;
  /// The token's user, if the token exists, is not revoked and has not expired.
  virtual Result<std::optional<UserRecord>> FindApiToken(const std::string& token_hash,
                                                         int64_t now_ms) = 0;

  /// The user's tokens, newest first, revoked ones included.
  virtual Result<std::vector<ApiTokenRecord>> ListApiTokens(const std::string& username) = 0;
  /// Revokes the user's token `id`, or all of them when `id` is 0; the number revoked.
  virtual Result<int> RevokeApiTokens(const std::string& username, int64_t id, int64_t now_ms) = 0;

  virtual Status Audit(const AuditEntry& entry) = 0;
  /// Rows with id > `after_id`, oldest first, at most `limit` (the audit export's cursor).
  virtual Result<std::vector<AuditEntry>> AuditAfter(int64_t after_id, int limit) = 0;
  /// Newest first; empty `username` means everyone.
  virtual Result<std::vector<AuditEntry>> QueryAudit(const std::string& username, int64_t from_ms,
                                                     int64_t to_ms, int limit) = 0;
};

}  // namespace dxhub::store
