// Shares on both engines: a study shared with another institution is in its users' scope until
// the share is revoked; a link is found by its token's hash, opened with a grant, and ends when
// it expires or is revoked.

#include <gtest/gtest.h>

#include "engines.h"
#include "records.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

class ShareTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto index = Open();
    ASSERT_TRUE(index.ok()) << index.error().ToString();
    ix_ = std::move(index.value());
    InstitutionStore& in = ix_->institutions();
    clinic_a_ = in.Add({0, "Clinic A", "CLA", {}, {{"CLINIC_A", ""}}, {}, 0}, 1).value();
    clinic_b_ = in.Add({0, "Clinic B", "CLB", {}, {{"CLINIC_B", ""}}, {}, 0}, 1).value();
    for (const auto& [study, aet] : {std::pair{"1.1", "CLINIC_A"}, std::pair{"1.2", "CLINIC_A"}}) {
      InstanceRecord r = testing::Image(study, std::string(study) + ".1.1", 1000, {});
      r.attribution = {0, aet, "127.0.0.1"};
      ASSERT_TRUE(ix_->PutInstance(r).ok());
    }
  }

  std::vector<std::string> Studies(int64_t institution) {
    auto scope = ix_->institutions().ScopeOf(institution);
    EXPECT_TRUE(scope.ok());
    auto page = ix_->FindStudies(*scope, StudyQuery{});
    EXPECT_TRUE(page.ok());
    std::vector<std::string> uids;
    for (const auto& s : page->studies)
      uids.push_back(s.study_uid);
    std::sort(uids.begin(), uids.end());
    return uids;
  }

  StudyIndexPtr ix_;
  int64_t clinic_a_ = 0, clinic_b_ = 0;
};

TEST_P(ShareTest, AStudySharedWithAnInstitutionIsInItsScopeUntilRevoked) {
  const Scope a = ix_->institutions().ScopeOf(clinic_a_).value();
  const Scope b = ix_->institutions().ScopeOf(clinic_b_).value();
  EXPECT_TRUE(Studies(clinic_b_).empty());
  // Clinic B cannot share what it does not see.
  EXPECT_EQ(ix_->shares().AddInstitution(b, "1.1", "Clinic B", "b", 5).error().code,
            ErrorCode::kNotFound);
  auto share = ix_->shares().AddInstitution(a, "1.1", "Clinic B", "doc_a", 5);
  ASSERT_TRUE(share.ok()) << share.error().ToString();
  EXPECT_EQ(share->institution, "Clinic B");
  EXPECT_EQ(ix_->shares().AddInstitution(a, "1.1", "Clinic B", "doc_a", 6).error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(ix_->shares().AddInstitution(a, "1.1", "Nowhere", "doc_a", 6).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(Studies(clinic_b_), std::vector<std::string>{"1.1"});  // not 1.2
  const Scope b_now = ix_->institutions().ScopeOf(clinic_b_).value();
  EXPECT_TRUE(ix_->GetStudy(b_now, "1.1").value().has_value());
  EXPECT_FALSE(ix_->GetStudy(b_now, "1.2").value().has_value());
  EXPECT_EQ(ix_->shares().List(a, "1.1").value().size(), 1u);

  auto revoked = ix_->shares().Revoke(a, share->id, "doc_a", 9);
  ASSERT_TRUE(revoked.ok()) << revoked.error().ToString();
  EXPECT_EQ(revoked->revoked_ms, 9);
  EXPECT_EQ(ix_->shares().Revoke(a, share->id, "doc_a", 9).error().code, ErrorCode::kConflict);
  EXPECT_TRUE(Studies(clinic_b_).empty());
}

TEST_P(ShareTest, ALinkOpensWithAGrantUntilItExpiresOrIsRevoked) {
  const Scope a = ix_->institutions().ScopeOf(clinic_a_).value();
  auto link =
      ix_->shares().AddLink(a, {"1.2", "tokenhash", "", "the patient", "doc_a", 100, 10'000});
  ASSERT_TRUE(link.ok()) << link.error().ToString();
  EXPECT_FALSE(link->has_code);
  EXPECT_EQ(
      ix_->shares().AddLink(Scope::Of({clinic_b_}), {"1.2", "t2", "", "", "b", 1, 2}).error().code,
      ErrorCode::kNotFound);
  auto found = ix_->shares().FindLink("tokenhash").value();
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->share.study_uid, "1.2");
  EXPECT_FALSE(ix_->shares().FindLink("other").value().has_value());

  ASSERT_TRUE(ix_->shares().Open(link->id, "grant1", 5'000, 200).ok());
  EXPECT_TRUE(ix_->shares().Granted(link->id, "grant1", 300).value());
  EXPECT_FALSE(ix_->shares().Granted(link->id, "grant2", 300).value());
  EXPECT_FALSE(ix_->shares().Granted(link->id, "grant1", 6'000).value());  // the grant ran out
  ASSERT_TRUE(ix_->shares().Open(link->id, "grant3", 20'000, 300).ok());
  EXPECT_FALSE(ix_->shares().Granted(link->id, "grant3", 10'001).value());  // the link expired
  EXPECT_EQ(ix_->shares().List(a, "1.2").value().front().opened, 2);

  ASSERT_TRUE(ix_->shares().Revoke(a, link->id, "doc_a", 400).ok());
  EXPECT_FALSE(ix_->shares().Granted(link->id, "grant3", 500).value());
  EXPECT_EQ(ix_->shares().FindLink("tokenhash").value()->share.revoked_ms, 400);
}

DXHUB_BOTH_ENGINES(ShareTest);

}  // namespace
}  // namespace dxhub::store
