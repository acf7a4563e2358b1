#pragma once
// A caller's scope as a condition of the SQL that lists, searches or reads studies: the one
// translation of store::Scope, used by every store query that takes one.

#include <string>
#include <string_view>

#include "store/scope.h"

namespace dxhub::store {

/// " AND (<studies>.institution_pk IN (ids) OR <studies>.id IN (shared))" (either part alone
/// when the other is empty; " AND 1=0" for an empty scope; "" for everything), where `studies`
/// is the alias of the studies table in the statement. The ids are integers of our own, so
/// they are written as literals; a statement with a condition is not worth caching.
inline std::string ScopeSqlCondition(const Scope& scope, std::string_view studies) {
  if (scope.everything())
    return {};
  auto list = [](const std::vector<int64_t>& ids) {
    std::string in;
    for (int64_t id : ids) {
      if (!in.empty())
        in += ", ";
      in += std::to_string(id);
    }
    return in;
  };
  std::string by_institution;
  if (!scope.institutions().empty()) {
    by_institution = std::string(studies);
    by_institution += ".institution_pk IN (";
    by_institution += list(scope.institutions());
    by_institution += ")";
  }
  std::string by_share;
  if (!scope.shared_studies().empty()) {
    by_share = std::string(studies);
    by_share += ".id IN (";
    by_share += list(scope.shared_studies());
    by_share += ")";
  }
  if (by_institution.empty() && by_share.empty())
    return " AND 1=0";
  if (by_share.empty())
    return " AND " + by_institution;
  if (by_institution.empty())
    return " AND " + by_share;
  return " AND (" + by_institution + " OR " + by_share + ")";
}

}  // namespace dxhub::store
