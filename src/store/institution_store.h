#pragma once
// Institutions of the region (the main hospital, each clinic), in the index database: which AE
// titles send for each, which name an incoming InstitutionName matches, whose studies each one
// reads, and the scope (store/scope.h) that follows for its users and DICOM nodes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/scope.h"

namespace dxhub::store {

/// A calling AE title that sends for an institution; `host` empty: from any address.
struct Sender {
  std::string aet;
  std::string host;
  bool operator==(const Sender&) const = default;
};

struct Institution {
  int64_t id = 0;
  std::string name;
  /// IssuerOfPatientID given to its senders' patients that arrive without one, so the same
  /// PatientID from two institutions never names one patient.
  std::string issuer;
  std::vector<std::string> aliases;  // InstitutionName values that also mean this institution
  std::vector<Sender> senders;
  std::vector<std::string> reads_for;  // names of the institutions whose studies it reads
  int64_t created_ms = 0;
};

/// What a new study is attributed by, in the order the rules apply: an explicit institution
/// (the STOW client's, an import option), the calling AE title and peer address, then the
/// dataset's InstitutionName.
struct Attribution {
  int64_t institution = 0;  // 0: none given
  std::string calling_aet;
  std::string peer_ip;
  bool operator==(const Attribution&) const = default;
};

class InstitutionStore {
 public:
  virtual ~InstitutionStore() = default;

  /// Adds an institution; kConflict if the name (or an alias) is taken.
  virtual Result<int64_t> Add(const Institution& institution, int64_t now_ms) = 0;
  /// Every institution with its senders, aliases and readers, by name.
  virtual Result<std::vector<Institution>> List() = 0;
  virtual Result<std::optional<Institution>> Find(const std::string& name) = 0;
  /// Adds `sender` to the institution named `name` (moving it from another one).
  virtual Status AddSender(const std::string& name, const Sender& sender) = 0;
  /// Lets `reader`'s users and nodes see `served`'s studies.
  virtual Status AddReadsFor(const std::string& reader, const std::string& served) = 0;
  /// The institution a calling AE title from `peer_ip` sends for (an entry for that address
  /// before one for any address); 0: none.
  virtual Result<int64_t> SenderInstitution(const std::string& calling_aet,
                                            const std::string& peer_ip) = 0;
  /// What the users and nodes of `institution` see: its own studies and those of the
  /// institutions it reads for. 0 (belonging to none): everything.
  virtual Result<Scope> ScopeOf(int64_t institution) = 0;
};

}  // namespace dxhub::store
