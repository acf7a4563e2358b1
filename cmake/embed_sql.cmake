# Writes a header holding each migration file as a raw string literal, in file-name order.
set(content "#pragma once\n// Generated from src/store/sql/sqlite/*.sql; do not edit.\n")
string(APPEND content "namespace dxhub::store {\ninline constexpr const char* kSqliteMigrations[] = {\n")
foreach(f IN LISTS FILES)
  file(READ ${f} sql)
  string(APPEND content "R\"dxhubsql(${sql})dxhubsql\",\n")
endforeach()
string(APPEND content "};\n}  // namespace dxhub::store\n")
file(WRITE ${OUT} "${content}")
