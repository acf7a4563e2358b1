# Writes a header holding each migration file of DIR as a raw string literal, in file-name order,
# as the array VAR. (The directory, not a file list, is passed: a list's ';' would split the shell
# command.)
file(GLOB FILES ${DIR}/*.sql)
list(SORT FILES)
get_filename_component(engine ${DIR} NAME)
set(content "#pragma once\n// Generated from src/store/sql/${engine}/*.sql; do not edit.\n")
string(APPEND content "namespace dxhub::store::sql {\ninline constexpr const char* ${VAR}[] = {\n")
foreach(f IN LISTS FILES)
  file(READ ${f} sql)
  string(APPEND content "R\"dxhubsql(${sql})dxhubsql\",\n")
endforeach()
string(APPEND content "};\n}  // namespace dxhub::store::sql\n")
file(WRITE ${OUT} "${content}")
