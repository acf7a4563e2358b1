#pragma once
// A caller's scope as a condition of the SQL that lists, searches or reads studies: the one
// translation of store::Scope, used by every store query that takes one.

#include <string>
#include <string_view>

#include "store/scope.h"

namespace dxhub::store {

/// " AND <column> IN (ids)" (or " AND 1=0" for an empty scope; "" for everything), where
/// `column` is the studies' institution_pk in the statement. The ids are integers of our own, so
/// they are written as literals; a statement with a condition is not worth caching.
inline std::string ScopeSqlCondition(const Scope& scope, std::string_view column) {
  if (scope.everything())
    return {};
  if (scope.institutions().empty())
    return " AND 1=0";
  std::string in;
  for (int64_t id : scope.institutions()) {
    if (!in.empty())
      in += ", ";
    in += std::to_string(id);
  }
  std::string out = " AND ";
  out += column;
  out += " IN (";
  out += in;
  out += ")";
  return out;
}

}  // namespace dxhub::store
