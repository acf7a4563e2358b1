// docs/conformance.md against the code's own lists: every SOP class and transfer syntax the SCP
// negotiates is stated there, and the statement claims no UID the code does not accept, so the
// document hospital IT reads before connecting a PACS cannot drift from the server.

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "dicom/store_scp.h"

namespace dxhub::dicom {
namespace {

std::string Statement() {
  std::ifstream in(std::string(DXHUB_SOURCE_DIR) + "/docs/conformance.md");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::set<std::string> CodeUids() {
  std::set<std::string> uids;
  for (const auto& list : {AcceptedTransferSyntaxes(), AcceptedStorageSopClasses(),
                           AcceptedServiceSopClasses(), AcceptedCommandTransferSyntaxes()}) {
    uids.insert(list.begin(), list.end());
  }
  return uids;
}

TEST(Conformance, EveryNegotiatedUidIsStated) {
  const std::string text = Statement();
  ASSERT_FALSE(text.empty());
  for (const auto& uid : CodeUids())
    EXPECT_NE(text.find("`" + uid + "`"), std::string::npos) << uid << " missing";
  EXPECT_GT(AcceptedStorageSopClasses().size(), 150U);
}

TEST(Conformance, NoUidIsClaimedThatTheCodeDoesNotAccept) {
  const std::string text = Statement();
  const std::set<std::string> code = CodeUids();
  const std::regex quoted("`(1\\.2\\.840\\.10008\\.[0-9.]+)`");
  int seen = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), quoted), end; it != end; ++it) {
    ++seen;
    const std::string uid = (*it)[1];
    if (uid == "1.2.840.10008.3.1.1.1")
      continue;  // the application context name, not a negotiated syntax
    EXPECT_TRUE(code.count(uid)) << uid << " is claimed but not accepted";
  }
  EXPECT_GT(seen, 150);
}

}  // namespace
}  // namespace dxhub::dicom
