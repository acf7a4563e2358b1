#include "store/sql/dialect.h"

#include <algorithm>
#include <cctype>

namespace dxhub::store::sql {

std::string_view Dialect::name() const {
  return engine_ == Engine::kSqlite ? "sqlite" : "postgresql";
}

std::string Dialect::Greatest(std::string_view a, std::string_view b) const {
  std::string out(engine_ == Engine::kSqlite ? "MAX(" : "GREATEST(");
  out += a;
  out += ", ";
  out += b;
  out += ')';
  return out;
}

std::string Dialect::JoinDistinct(std::string_view expr) const {
  std::string out(engine_ == Engine::kSqlite ? "group_concat(DISTINCT " : "string_agg(DISTINCT ");
  out += expr;
  out += engine_ == Engine::kSqlite ? ")" : ", ',')";
  return out;
}

std::string Dialect::EqualsIgnoringCase(std::string_view column, std::string_view param) const {
  std::string out;
  if (engine_ == Engine::kSqlite) {
    out += column;
    out += " = :";
    out += param;
    out += " COLLATE NOCASE";
  } else {
    out += "lower(";
    out += column;
    out += ") = lower(:";
    out += param;
    out += ')';
  }
  return out;
}

std::string Dialect::LikeIgnoringCase(std::string_view column, std::string_view param) const {
  // SQLite's LIKE ignores ASCII case by itself.
  std::string out(column);
  out += engine_ == Engine::kSqlite ? " LIKE :" : " ILIKE :";
  out += param;
  out += " ESCAPE '\\'";
  return out;
}

std::string Dialect::MatchesWildcard(std::string_view column, std::string_view param) const {
  std::string out(column);
  if (engine_ == Engine::kSqlite) {
    out += " GLOB :";  // SQLite's LIKE would ignore case
    out += param;
  } else {
    out += " LIKE :";
    out += param;
    out += " ESCAPE '\\'";
  }
  return out;
}

std::string Dialect::WildcardPattern(std::string_view dicom) const {
  if (engine_ == Engine::kPostgres)
    return LikePattern(dicom);
  // GLOB: '*' and '?' are already its wildcards; '[' opens a class, so it becomes one.
  std::string out;
  for (char ch : dicom) {
    if (ch == '[') {
      out += "[[]";
    } else {
      out += ch;
    }
  }
  return out;
}

std::string_view Dialect::SkipLocked() const {
  return engine_ == Engine::kSqlite ? "" : " FOR UPDATE SKIP LOCKED";
}

std::string Dialect::ContinueIdentityAfterMax(std::string_view table,
                                              std::string_view column) const {
  if (engine_ == Engine::kSqlite)
    return {};  // a rowid continues after the largest one by itself
  std::string t(table);
  std::string c(column);
  return "SELECT setval(pg_get_serial_sequence('" + t + "', '" + c + "'), COALESCE(MAX(" + c +
         "), 0) + 1, false) FROM " + t;
}

std::string Dialect::LikePattern(std::string_view dicom) {
  std::string out;
  for (char c : dicom) {
    if (c == '*') {
      out += '%';
    } else if (c == '?') {
      out += '_';
    } else if (c == '%' || c == '_' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

PositionalSql ToPositional(std::string_view sql) {
  PositionalSql out;
  out.text.reserve(sql.size());
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      // A quoted literal or identifier, with doubled quotes inside.
      size_t end = i + 1;
      while (end < sql.size()) {
        if (sql[end] == c) {
          if (end + 1 < sql.size() && sql[end + 1] == c) {
            end += 2;
            continue;
          }
          break;
        }
        ++end;
      }
      end = std::min(end + 1, sql.size());
      out.text.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const size_t end = std::min(sql.find('\n', i), sql.size());
      out.text.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {
      out.text += "::";
      i += 2;
      continue;
    }
    if (c == ':' && i + 1 < sql.size() &&
        (std::isalpha(static_cast<unsigned char>(sql[i + 1])) || sql[i + 1] == '_')) {
      size_t end = i + 1;
      while (end < sql.size() && is_name(sql[end]))
        ++end;
      std::string name(sql.substr(i + 1, end - i - 1));
      auto it = std::find(out.names.begin(), out.names.end(), name);
      size_t position = static_cast<size_t>(it - out.names.begin());
      if (it == out.names.end())
        out.names.push_back(std::move(name));
      out.text += '$';
      out.text += std::to_string(position + 1);
      i = end;
      continue;
    }
    out.text += c;
    ++i;
  }
  return out;
}

}  // namespace dxhub::store::sql
