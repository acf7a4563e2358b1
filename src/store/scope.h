#pragma once
// What a caller may see of the archive: every institution's studies, or those of a few. Every
// store query that lists, searches or reads patient data takes a Scope as its first parameter,
// so that no call can forget it (the compiler finds them all) and the condition is added in one
// place of the SQL (sql_study_index.cpp, BuildWhere), never by filtering results afterwards.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace dxhub::store {

class Scope {
 public:
  /// Every study, attributed or not: administrators, users of no institution (the region's own
  /// staff) and dxhub's own work (ingest, AI and processing workers, verification).
  static Scope Everything() { return Scope(true, {}, {}); }
  /// The studies of these institutions (ids), and single studies shared with the caller's
  /// institution (study row ids); none of either: nothing at all.
  static Scope Of(std::vector<int64_t> institutions, std::vector<int64_t> shared_studies = {}) {
    Unique(institutions);
    Unique(shared_studies);
    return Scope(false, std::move(institutions), std::move(shared_studies));
  }

  bool everything() const { return everything_; }
  const std::vector<int64_t>& institutions() const { return institutions_; }
  const std::vector<int64_t>& shared_studies() const { return shared_studies_; }
  /// Whether every study of `institution` (0: attributed to none) is in scope (a single
  /// study shared with the caller may be in scope without its institution).
  bool Allows(int64_t institution) const {
    return everything_ ||
           std::binary_search(institutions_.begin(), institutions_.end(), institution);
  }

  bool operator==(const Scope&) const = default;

 private:
  Scope(bool everything, std::vector<int64_t> institutions, std::vector<int64_t> studies)
      : everything_(everything),
        institutions_(std::move(institutions)),
        shared_studies_(std::move(studies)) {}
  static void Unique(std::vector<int64_t>& ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }

  bool everything_;
  std::vector<int64_t> institutions_;    // sorted, unique
  std::vector<int64_t> shared_studies_;  // sorted, unique
};

}  // namespace dxhub::store
