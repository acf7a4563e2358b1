#pragma once
// What differs between the SQL engines the stores run on, kept to a handful of fragments so the
// store logic is written once. Everything else the stores use (upsert with `excluded`,
// `RETURNING`, `COALESCE`, `CASE`, window-free subqueries) is the same in both.

#include <string>
#include <string_view>
#include <vector>

namespace dxhub::store::sql {

enum class Engine { kSqlite, kPostgres };

class Dialect {
 public:
  explicit constexpr Dialect(Engine engine) : engine_(engine) {}
  constexpr Engine engine() const { return engine_; }
  /// "sqlite" or "postgresql": also the folder of the engine's schema files.
  std::string_view name() const;

  /// The larger of two values (SQLite's two-argument MAX, PostgreSQL's GREATEST).
  std::string Greatest(std::string_view a, std::string_view b) const;
  /// The distinct values of `expr` over a group, joined by ',' (order unspecified).
  std::string JoinDistinct(std::string_view expr) const;
  /// `column = :param`, ignoring case (person names).
  std::string EqualsIgnoringCase(std::string_view column, std::string_view param) const;
  /// `column` matches the LIKE pattern `:param` (escape '\'), ignoring case.
  std::string LikeIgnoringCase(std::string_view column, std::string_view param) const;
  /// `column` matches `:param`, a pattern made by WildcardPattern, case-sensitively.
  std::string MatchesWildcard(std::string_view column, std::string_view param) const;
  /// Turns a DICOM wildcard value ('*', '?') into the pattern MatchesWildcard takes.
  std::string WildcardPattern(std::string_view dicom) const;
  /// Appended to a SELECT whose rows a worker claims: other nodes skip rows already being
  /// claimed instead of waiting for them. Empty on SQLite, whose one writer serialises claims.
  std::string_view SkipLocked() const;

  /// A statement making the identity `column` of `table` continue after its largest value, once
  /// rows came in with explicit ids (a migration); empty where the engine does it by itself.
  std::string ContinueIdentityAfterMax(std::string_view table, std::string_view column) const;

  /// Turns a DICOM wildcard value into a LIKE pattern with '\' as the escape character.
  static std::string LikePattern(std::string_view dicom);

 private:
  Engine engine_;
};

/// A statement's text with `:name` parameters rewritten as `$1, $2, ...` (PostgreSQL's form),
/// and the parameter name of each position. Text inside quotes and `::` casts are left alone.
struct PositionalSql {
  std::string text;
  std::vector<std::string> names;  // names[k] is `$k+1`; a name used twice shares its number
};
PositionalSql ToPositional(std::string_view sql);

}  // namespace dxhub::store::sql
