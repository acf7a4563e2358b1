// The peer directory: peers administrators add are stored in the index database and so seen by
// every node on it; a node's config-file peers stay its own and cannot be changed through it.

#include <gtest/gtest.h>

#include <atomic>

#include "core/clock.h"
#include "engines.h"
#include "store/peer_directory.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

RemoteAe Ae(const std::string& name, const std::string& aet, int port, bool query = false) {
  RemoteAe ae;
  ae.name = name;
  ae.aet = aet;
  ae.host = "127.0.0.1";
  ae.port = port;
  ae.query = query;
  return ae;
}

class PeerTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto a = Open({"a", 30000});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    a_ = std::move(a.value());
    auto b = Open({"b", 30000});
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    b_ = std::move(b.value());
  }
  SystemClock clock_;
  StudyIndexPtr a_;
  StudyIndexPtr b_;
};

TEST_P(PeerTest, StoresBothKindsUnderOneNameSpace) {
  RemoteAe ae = Ae("pacs", "PACS", 4242, true);
  ae.from = {"10.0.0.0/8", "192.168.1.7"};
  ae.tls = true;
  ae.ca = "/etc/dxhub/pacs-ca.pem";
  ASSERT_TRUE(a_->peers().PutRemoteAe(ae, "admin", 1000).ok());
  ASSERT_TRUE(
      a_->peers().PutDicomWebPeer({"cloud", "https://c/dicom-web", "s3cret"}, "admin", 1000).ok());
  auto listed = b_->peers().List();
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed->remote_aes.size(), 1u);
  EXPECT_EQ(listed->remote_aes[0], ae);
  ASSERT_EQ(listed->dicomweb_peers.size(), 1u);
  EXPECT_EQ(listed->dicomweb_peers[0].token, "s3cret");

  // The same name for the other kind replaces it: /api/peers/NAME must mean one peer.
  ASSERT_TRUE(b_->peers().PutDicomWebPeer({"pacs", "http://p/wado", ""}, "admin", 2000).ok());
  listed = a_->peers().List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->remote_aes.empty());
  EXPECT_EQ(listed->dicomweb_peers.size(), 2u);

  ASSERT_TRUE(a_->peers().Delete("pacs").ok());
  Status again = a_->peers().Delete("pacs");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

TEST_P(PeerTest, APeerAddedOnOneNodeReachesTheOtherOnItsNextRefresh) {
  PeerDirectory on_a(a_->peers(), clock_, {Ae("local", "LOCAL", 104)}, {});
  PeerDirectory on_b(b_->peers(), clock_, {}, {});
  std::atomic<int> changes{0};
  on_b.OnChange([&](const PeerDirectory::Snapshot&) { ++changes; });
  ASSERT_TRUE(on_a.Refresh().ok());
  ASSERT_TRUE(on_b.Refresh().ok());
  EXPECT_EQ(changes, 0);  // nothing stored yet: b's (empty) directory did not change

  ASSERT_TRUE(on_a.PutRemoteAe(Ae("viewer", "VIEWER", 5678, true), "admin").ok());
  EXPECT_TRUE(on_a.FindByAet("VIEWER").has_value());  // at once on the node that added it
  EXPECT_FALSE(on_b.FindByAet("VIEWER").has_value());
  ASSERT_TRUE(on_b.Refresh().ok());
  ASSERT_TRUE(on_b.FindByAet("VIEWER").has_value());
  EXPECT_EQ(on_b.FindByAet("VIEWER")->port, 5678);
  EXPECT_EQ(changes, 1);
  ASSERT_TRUE(on_b.Refresh().ok());
  EXPECT_EQ(changes, 1);  // unchanged: no second notification

  // A config-file peer is the node's own: b never sees it, a cannot change or remove it here.
  EXPECT_FALSE(on_b.FindByAet("LOCAL").has_value());
  Status replace = on_a.PutRemoteAe(Ae("local", "OTHER", 1), "admin");
  ASSERT_FALSE(replace.ok());
  EXPECT_EQ(replace.error().code, ErrorCode::kAlreadyExists);
  Status remove = on_a.Remove("local");
  ASSERT_FALSE(remove.ok());
  EXPECT_EQ(remove.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(on_a.Current()->configured, std::set<std::string>{"local"});

  ASSERT_TRUE(on_b.Remove("viewer").ok());
  ASSERT_TRUE(on_a.Refresh().ok());
  EXPECT_FALSE(on_a.FindByAet("VIEWER").has_value());
  EXPECT_EQ(changes, 2);
}

TEST_P(PeerTest, AConfigFilePeerWinsOverAStoredOneOfTheSameName) {
  ASSERT_TRUE(b_->peers().PutRemoteAe(Ae("pacs", "STORED", 1), "admin", 1).ok());
  PeerDirectory on_a(a_->peers(), clock_, {Ae("pacs", "CONFIGURED", 2)}, {});
  ASSERT_TRUE(on_a.Refresh().ok());
  auto now = on_a.Current();
  ASSERT_EQ(now->remote_aes.size(), 1u);
  EXPECT_EQ(now->remote_aes[0].aet, "CONFIGURED");
}

TEST_P(PeerTest, RefusesMalformedPeersBeforeStoringThem) {
  PeerDirectory dir(a_->peers(), clock_, {}, {});
  for (const RemoteAe& bad :
       {Ae("", "X", 1), Ae("a/b", "X", 1), Ae("x", "", 1), Ae("x", "SEVENTEEN_CHARS_X", 1),
        Ae("x", "BACK\\SLASH", 1), Ae("x", "    ", 1), Ae("x", "X", 0), Ae("x", "X", 70000)}) {
    Status st = dir.PutRemoteAe(bad, "admin");
    EXPECT_FALSE(st.ok()) << bad.name << " " << bad.aet << " " << bad.port;
  }
  RemoteAe bad_host = Ae("x", "X", 1);
  bad_host.host = "evil host;rm";
  EXPECT_FALSE(dir.PutRemoteAe(bad_host, "admin").ok());
  RemoteAe bad_range = Ae("x", "X", 1);
  bad_range.from = {"10.0.0.0/99"};
  EXPECT_FALSE(dir.PutRemoteAe(bad_range, "admin").ok());
  EXPECT_FALSE(dir.PutDicomWebPeer({"w", "ftp://x", ""}, "admin").ok());
  EXPECT_FALSE(dir.PutDicomWebPeer({"w", "http://x", "a token"}, "admin").ok());
  EXPECT_TRUE(a_->peers().List().value().remote_aes.empty());
  EXPECT_TRUE(a_->peers().List().value().dicomweb_peers.empty());
}

DXHUB_BOTH_ENGINES(PeerTest);

}  // namespace
}  // namespace dxhub::store
