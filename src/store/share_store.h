#pragma once
// Shares of single studies, in the index database: links that open a read-only viewer without
// an account (expiring, revocable, optionally behind an access code) and grants to another
// institution (revocable; its users' scope then takes in the study, store/scope.h). The store
// keeps only hashes of link tokens, access codes and grants: what it is given is already hashed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/scope.h"

namespace dxhub::store {

struct Share {
  int64_t id = 0;
  std::string study_uid;
  std::string kind;         // link, institution
  std::string institution;  // institution share: whom it grants; link: ""
  bool has_code = false;    // link: behind an access code
  std::string recipient;
  std::string created_by;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: until revoked
  int64_t revoked_ms = 0;  // 0: in force (unless expired)
  std::string revoked_by;
  int64_t opened = 0;
  int64_t last_opened_ms = 0;
};

struct LinkShareInput {
  std::string study_uid;
  std::string token_hash;  // SHA-256 of the link's token
  std::string code_hash;   // argon2id of its access code; "" none
  std::string recipient;
  std::string created_by;
  int64_t now_ms = 0;
  int64_t expires_ms = 0;
};

/// What opening a link needs to know.
struct LinkShare {
  Share share;
  std::string code_hash;
};

class ShareStore {
 public:
  virtual ~ShareStore() = default;

  /// A link to a study in `scope`; kNotFound outside it.
  virtual Result<Share> AddLink(const Scope& scope, const LinkShareInput& input) = 0;
  /// Lets the institution named `institution` see the study; kNotFound for a study outside
  /// `scope` or an unknown institution; kAlreadyExists while such a share is in force.
  virtual Result<Share> AddInstitution(const Scope& scope, const std::string& study_uid,
                                       const std::string& institution,
                                       const std::string& created_by, int64_t now_ms) = 0;
  /// The study's shares, newest first.
  virtual Result<std::vector<Share>> List(const Scope& scope, const std::string& study_uid) = 0;
  /// Ends a share at once (its grants too); kNotFound outside `scope`, kConflict if revoked.
  virtual Result<Share> Revoke(const Scope& scope, int64_t id, const std::string& by,
                               int64_t now_ms) = 0;

  /// The link with this token hash, whatever its state (the caller tells expired from revoked).
  virtual Result<std::optional<LinkShare>> FindLink(const std::string& token_hash) = 0;
  /// Counts an opening and records the grant its browser holds until `grant_expires_ms`.
  virtual Status Open(int64_t share_id, const std::string& grant_hash, int64_t grant_expires_ms,
                      int64_t now_ms) = 0;
  /// Whether `grant_hash` opens the share `share_id` now.
  virtual Result<bool> Granted(int64_t share_id, const std::string& grant_hash, int64_t now_ms) = 0;
};

}  // namespace dxhub::store
