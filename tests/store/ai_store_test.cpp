#include <gtest/gtest.h>

#include "../test_util.h"
#include "engines.h"
#include "records.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

using testing::Image;
using testing::kModel;

using dxhub::testing::ScratchDir;

AiOutcome Analysed(bool high_risk, double risk) {
  AiOutcome o;
  o.analysed = true;
  o.label = high_risk ? "high-risk" : "normal";
  o.score = high_risk ? risk : 1 - risk;
  o.risk_score = risk;
  o.high_risk = high_risk;
  o.frames = 1;
  return o;
}

AiOutcome Failed(bool retry, const std::string& reason) {
  AiOutcome o;
  o.retry = retry;
  o.reason = reason;
  return o;
}

class AiStoreTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.error().ToString();
    index_ = std::move(opened.value());
  }
  AiStore& ai() { return index_->ai(); }

  StudyIndexPtr index_;
};

TEST_P(AiStoreTest, JobsAreQueuedWithTheInstanceAndClaimedOnce) {
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.2", 200, {kModel, {"n", "2"}})).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.3", 300, {})).ok());  // no model applies
  EXPECT_EQ(ai().Counts()->pending, 3);

  auto first = ai().ClaimJobs(2, 1000);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].sop_uid, "1.9.1.1");
  EXPECT_EQ((*first)[0].study_uid, "1.9");
  EXPECT_EQ((*first)[0].attempts, 1);
  EXPECT_EQ((*first)[0].received_ms, 100);
  auto rest = ai().ClaimJobs(10, 1000);
  ASSERT_EQ(rest->size(), 1u);  // nobody gets a job twice
  EXPECT_EQ((*rest)[0].spec, (AiJobSpec{"n", "2"}));
  EXPECT_TRUE(ai().ClaimJobs(10, 1000)->empty());
}

TEST_P(AiStoreTest, OutcomesAreCountedOncePerImage) {
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.2", 100)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.3", 100)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.4", 100)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.5", 100, {})).ok());
  auto jobs = ai().ClaimJobs(10, 1000).value();
  ASSERT_EQ(jobs.size(), 4u);
  std::vector<AiStore::Completed> done = {{jobs[0].id, Analysed(false, 0.1)},
                                          {jobs[1].id, Analysed(true, 0.9)},
                                          {jobs[2].id, Failed(false, "decode_error: bad")}};
  EXPECT_EQ(ai().CompleteJobs(done, 2000).value(), 3);
  EXPECT_EQ(ai().CompleteJobs(done, 2001).value(), 0);  // a second report changes nothing

  auto s = ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value().value();
  EXPECT_EQ(s.total, 5);
  EXPECT_EQ(s.normal, 1);
  EXPECT_EQ(s.high_risk, 1);
  EXPECT_EQ(s.analysed, 2);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.pending, 1);  // jobs[3] still running
  EXPECT_DOUBLE_EQ(s.highest_risk, 0.9);
  EXPECT_EQ(s.highest_risk_label, "high-risk");
  EXPECT_EQ(s.queued_ms, 100);
  EXPECT_EQ(s.inferred_ms, 0);  // not everything is in

  EXPECT_EQ(ai().PendingJobs("1.9").value(), 1);
  ASSERT_EQ(ai().CompleteJobs({{jobs[3].id, Analysed(false, 0.2)}}, 3000).value(), 1);
  EXPECT_EQ(ai().PendingJobs("1.9").value(), 0);
  s = ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value().value();
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(s.inferred_ms, 3000);

  auto images = ai().StudyResults(dxhub::store::Scope::Everything(), "1.9").value();
  ASSERT_EQ(images.size(), 4u);
  EXPECT_EQ(images[2].state, "failed");
  EXPECT_EQ(images[2].reason, "decode_error: bad");
  EXPECT_EQ(images[1].label, "high-risk");
  EXPECT_FALSE(ai().StudySummary(dxhub::store::Scope::Everything(), "9.9").value().has_value());
}

TEST_P(AiStoreTest, RetryReturnsToTheQueueUntilTheLastAttempt) {
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  auto job = ai().ClaimJobs(1, 1000).value().at(0);
  ASSERT_EQ(ai().CompleteJobs({{job.id, Failed(true, "model_error: x")}}, 1100).value(), 0);
  EXPECT_EQ(ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value()->pending, 1);
  job = ai().ClaimJobs(1, 1150).value().at(0);
  AiOutcome not_ready = Failed(true, "");
  not_ready.not_ready = true;  // the blob was not in place yet: the attempt does not count
  ASSERT_EQ(ai().CompleteJobs({{job.id, not_ready}}, 1160).value(), 0);
  job = ai().ClaimJobs(1, 1200).value().at(0);
  EXPECT_EQ(job.attempts, 2);
  ASSERT_EQ(ai().CompleteJobs({{job.id, Failed(false, "model_error: x")}}, 1300).value(), 1);
  EXPECT_EQ(ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value()->failed, 1);
}

TEST_P(AiStoreTest, InterruptedJobsResumeOrFailAfterTheirLastAttempt) {
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.2", 100)).ok());
  ASSERT_EQ(ai().ClaimJobs(2, 1000).value().size(), 2u);
  // The process died with both running; then the first one ran out of attempts.
  EXPECT_EQ(ai().RecoverInterrupted(3, 1500).value(), 2);
  auto again = ai().ClaimJobs(2, 1600).value();
  ASSERT_EQ(again.size(), 2u);
  ASSERT_TRUE(ai().CompleteJobs({{again[1].id, Analysed(false, 0.1)}}, 1700).ok());
  ASSERT_EQ(ai().ClaimJobs(1, 1700).value().size(), 0u);
  EXPECT_EQ(ai().RecoverInterrupted(2, 1800).value(), 0);  // attempts 2 >= 2: gives up
  auto images = ai().StudyResults(dxhub::store::Scope::Everything(), "1.9").value();
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].state, "failed");
  EXPECT_NE(images[0].reason.find("interrupted"), std::string::npos);
  EXPECT_EQ(images[1].state, "analysed");
}

TEST_P(AiStoreTest, HungJobsTimeOutAndTheirLateResultIsIgnored) {
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  auto job = ai().ClaimJobs(1, 1000).value().at(0);
  EXPECT_EQ(ai().FailStaleJobs(5000, 5999).value(), 0);  // running for 4.999 s only
  EXPECT_EQ(ai().FailStaleJobs(5000, 6001).value(), 1);
  auto images = ai().StudyResults(dxhub::store::Scope::Everything(), "1.9").value();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].state, "failed");
  EXPECT_EQ(images[0].reason, "timeout: no result after 5 s");
  // The worker comes back at last: its result is not counted a second time.
  EXPECT_EQ(ai().CompleteJobs({{job.id, Analysed(true, 0.9)}}, 9000).value(), 0);
  auto s = ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value().value();
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.high_risk, 0);
}

TEST_P(AiStoreTest, RerunKeepsHistoryAndStabilityResetsOnNewImages) {
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  auto job = ai().ClaimJobs(1, 1000).value().at(0);
  ASSERT_TRUE(ai().CompleteJobs({{job.id, Analysed(true, 0.8)}}, 1100).ok());
  auto queued = ai().EnqueueStudy(
      "1.9",
      [](const std::string& modality, const std::string&, const std::string&) {
        return modality == "CT" ? std::vector<AiJobSpec>{{"m", "2"}} : std::vector<AiJobSpec>{};
      },
      2000);
  EXPECT_EQ(queued.value(), 1);
  EXPECT_EQ(ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value()->pending,
            1);  // the newer version is what counts
  job = ai().ClaimJobs(1, 2100).value().at(0);
  EXPECT_EQ(job.spec.version, "2");
  ASSERT_TRUE(ai().CompleteJobs({{job.id, Analysed(false, 0.1)}}, 2200).ok());
  auto s = ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value().value();
  EXPECT_EQ(s.normal, 1);
  EXPECT_EQ(s.high_risk, 0);
  auto history = ai().ImageHistory(dxhub::store::Scope::Everything(), "1.9.1.1").value();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].spec.version, "2");
  EXPECT_EQ(history[1].label, "high-risk");

  EXPECT_TRUE(ai().MarkStable(5000, 4000).value().empty());  // quiet for 3.9 s only
  EXPECT_EQ(ai().MarkStable(5000, 5200).value(), std::vector<std::string>{"1.9"});
  EXPECT_TRUE(ai().MarkStable(5000, 9000).value().empty());  // already stable
  EXPECT_EQ(ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value()->stable_ms, 5200);
  ASSERT_TRUE(index_->PutInstance(Image("1.9", "1.9.1.2", 9100)).ok());  // a late image
  EXPECT_EQ(ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value()->stable_ms, 0);
  EXPECT_EQ(ai().MarkStable(5000, 14200).value(), std::vector<std::string>{"1.9"});
}

TEST_P(AiStoreTest, ModelsCanBeDisabledAndEnabled) {
  EXPECT_TRUE(ai().DisabledModels().value().empty());
  ASSERT_TRUE(ai().SetModelEnabled("m@1", false, 1).ok());
  ASSERT_TRUE(ai().SetModelEnabled("m@1", false, 2).ok());  // idempotent
  EXPECT_EQ(ai().DisabledModels().value(), std::set<std::string>{"m@1"});
  ASSERT_TRUE(ai().SetModelEnabled("m@1", true, 3).ok());
  EXPECT_TRUE(ai().DisabledModels().value().empty());
}

DXHUB_BOTH_ENGINES(AiStoreTest);

}  // namespace
}  // namespace dxhub::store
