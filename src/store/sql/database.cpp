#include "store/sql/database.h"

namespace dxhub::store::sql {

void StatementRelease::operator()(Statement* s) const {
  if (release) {
    release(s);
  } else {
    delete s;  // NOLINT(cppcoreguidelines-owning-memory): the uncached case owns it
  }
}

Status Stmt::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok())
      return row.error();
    if (!*row)
      return Ok();
  }
}

std::string NumberedParam(size_t i) {
  std::string name = "a";
  name += std::to_string(i);  // appended, not `"a" + ...`: GCC 12 -Wrestrict false positive
  return name;
}

}  // namespace dxhub::store::sql
