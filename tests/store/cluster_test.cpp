// Several nodes on one index database: each opens its own StudyIndex under its own name, as
// separate dxhub processes would, and they claim, renew, take over and complete jobs.

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "engines.h"
#include "records.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

using testing::Image;

constexpr int64_t kLease = 1000;

AiOutcome Analysed() {
  AiOutcome o;
  o.analysed = true;
  o.label = "normal";
  o.score = 0.9;
  o.risk_score = 0.1;
  o.frames = 1;
  return o;
}

NodeInfo Node(const std::string& name) {
  NodeInfo n;
  n.name = name;
  n.version = "test";
  n.http_url = "http://" + name + ":8042";
  n.dicom_port = 11112;
  n.pid = 1;
  n.started_ms = 1;
  return n;
}

class ClusterTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto a = Open({"a", kLease});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    a_ = std::move(a.value());
    auto b = Open({"b", kLease});
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    b_ = std::move(b.value());
  }
  void PutImages(int n) {
    for (int i = 1; i <= n; ++i)
      ASSERT_TRUE(a_->PutInstance(Image("1.9", "1.9.1." + std::to_string(i), 100)).ok());
  }
  int64_t Results(StudyIndex& index) {
    int64_t n = 0;
    const auto results = index.ai().StudyResults(dxhub::store::Scope::Everything(),
                                                 "1.9");  // kept: value() refers into it
    for (const auto& r : results.value())
      n += r.state == "analysed" ? 1 : 0;
    return n;
  }

  StudyIndexPtr a_;
  StudyIndexPtr b_;
};

TEST_P(ClusterTest, NodesClaimDifferentJobsAndOnlyTheClaimerCompletesOne) {
  PutImages(4);
  auto mine = a_->ai().ClaimJobs(2, 10000).value();
  auto theirs = b_->ai().ClaimJobs(10, 10000).value();
  ASSERT_EQ(mine.size(), 2u);
  ASSERT_EQ(theirs.size(), 2u);
  std::set<int64_t> ids;
  for (const auto& j : mine)
    ids.insert(j.id);
  for (const auto& j : theirs)
    ids.insert(j.id);
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(b_->ai().CompleteJobs({{mine[0].id, Analysed()}}, 10100).value(), 0);
  EXPECT_EQ(a_->ai().CompleteJobs({{mine[0].id, Analysed()}}, 10100).value(), 1);
  EXPECT_EQ(Results(*b_), 1);
}

TEST_P(ClusterTest, ConcurrentClaimsNeverHandOutAJobTwice) {
  PutImages(60);
  std::vector<int64_t> got_a;
  std::vector<int64_t> got_b;
  auto drain = [](StudyIndex& index, std::vector<int64_t>& got) {
    for (;;) {
      auto jobs = index.ai().ClaimJobs(3, 10000);
      ASSERT_TRUE(jobs.ok()) << jobs.error().ToString();
      if (jobs->empty())
        return;
      for (const auto& j : *jobs)
        got.push_back(j.id);
    }
  };
  std::thread ta([&] { drain(*a_, got_a); });
  std::thread tb([&] { drain(*b_, got_b); });
  ta.join();
  tb.join();
  std::set<int64_t> all(got_a.begin(), got_a.end());
  all.insert(got_b.begin(), got_b.end());
  EXPECT_EQ(all.size(), 60u);
  EXPECT_EQ(got_a.size() + got_b.size(), 60u);
}

TEST_P(ClusterTest, ADeadNodesJobsAreTakenOverOnceItsLeaseRunsOut) {
  PutImages(2);
  auto held = a_->ai().ClaimJobs(2, 10000).value();  // lease until 11000
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(b_->ai().TakeOverExpired(3, 10500).value(), 0);
  // A is alive: its heartbeat extends the leases.
  EXPECT_EQ(a_->cluster().Heartbeat(Node("a"), 10900, kLease).value(), 2);
  EXPECT_EQ(b_->ai().TakeOverExpired(3, 11500).value(), 0);
  // A dies. Once its leases run out, the first node to look requeues them, and nobody again.
  EXPECT_EQ(b_->ai().TakeOverExpired(3, 12000).value(), 2);
  EXPECT_EQ(a_->ai().TakeOverExpired(3, 12000).value(), 0);
  EXPECT_EQ(b_->ai().TakeOverExpired(3, 12000).value(), 0);
  auto again = b_->ai().ClaimJobs(10, 12001).value();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].attempts, 2);
  // A was only slow and reports after all: refused, the jobs are B's now.
  EXPECT_EQ(
      a_->ai().CompleteJobs({{held[0].id, Analysed()}, {held[1].id, Analysed()}}, 12100).value(),
      0);
  EXPECT_EQ(a_->cluster().Heartbeat(Node("a"), 12200, kLease).value(), 0);  // renews nothing
  EXPECT_EQ(
      b_->ai().CompleteJobs({{again[0].id, Analysed()}, {again[1].id, Analysed()}}, 12300).value(),
      2);
  EXPECT_EQ(Results(*a_), 2);  // one result per image
}

TEST_P(ClusterTest, AJobThatKeepsKillingItsNodeFailsAfterItsLastAttempt) {
  PutImages(1);
  ASSERT_EQ(a_->ai().ClaimJobs(1, 10000).value().size(), 1u);
  EXPECT_EQ(b_->ai().TakeOverExpired(2, 12000).value(), 1);
  ASSERT_EQ(b_->ai().ClaimJobs(1, 12001).value().size(), 1u);
  EXPECT_EQ(a_->ai().TakeOverExpired(2, 14000).value(), 0);  // failed instead: 2 attempts
  auto images = a_->ai().StudyResults(dxhub::store::Scope::Everything(), "1.9").value();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].state, "failed");
  EXPECT_NE(images[0].reason.find("interrupted"), std::string::npos);
}

TEST_P(ClusterTest, ARestartedNodeTakesBackOnlyItsOwnJobs) {
  PutImages(2);
  ASSERT_EQ(a_->ai().ClaimJobs(1, 10000).value().size(), 1u);
  ASSERT_EQ(b_->ai().ClaimJobs(1, 10000).value().size(), 1u);
  EXPECT_EQ(a_->ai().RecoverInterrupted(3, 10100).value(), 1);
  EXPECT_EQ(a_->ai().Counts()->running, 1);  // B's job is still B's
}

TEST_P(ClusterTest, ProcessingJobsHaveLeasesToo) {
  PutImages(1);
  ProcessingRequest request{"1.9.1", "mip", "{}", "doctor"};
  auto id = a_->processing().Enqueue(request, 10000);
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  auto job = a_->processing().Claim(10000).value();
  ASSERT_TRUE(job.has_value());
  EXPECT_FALSE(b_->processing().Claim(10000).value().has_value());
  // Only the claimer reports progress and the end.
  ASSERT_TRUE(b_->processing().Finish(*id, true, "", "{\"b\": 1}", 10100).ok());
  EXPECT_EQ(a_->processing().Find(*id).value()->state, "running");
  EXPECT_EQ(b_->processing().TakeOverExpired(2, 10500).value(), 0);
  EXPECT_EQ(b_->processing().TakeOverExpired(2, 11001).value(), 1);
  auto taken = b_->processing().Claim(11002).value();
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->id, *id);
  EXPECT_EQ(taken->attempts, 2);
  ASSERT_TRUE(a_->processing().Finish(*id, true, "", "{\"a\": 1}", 11100).ok());  // too late
  ASSERT_TRUE(b_->processing().Finish(*id, true, "", "{\"b\": 2}", 11200).ok());
  auto done = a_->processing().Find(*id).value().value();
  EXPECT_EQ(done.state, "done");
  EXPECT_EQ(done.result_json, "{\"b\": 2}");
}

TEST_P(ClusterTest, NodesAndQueuesAreListed) {
  PutImages(3);
  ASSERT_EQ(b_->ai().ClaimJobs(1, 10000).value().size(), 1u);
  NodeInfo a = Node("a");
  a.load = 0.5;
  a.ingested = 3;
  ASSERT_TRUE(a_->cluster().Heartbeat(a, 10000, kLease).ok());
  ASSERT_TRUE(b_->cluster().Heartbeat(Node("b"), 10500, kLease).ok());
  auto nodes = a_->cluster().ListNodes().value();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].name, "b");  // most recent heartbeat first
  EXPECT_EQ(nodes[0].ai_claimed, 1);
  EXPECT_EQ(nodes[1].name, "a");
  EXPECT_EQ(nodes[1].ingested, 3);
  EXPECT_DOUBLE_EQ(nodes[1].load, 0.5);
  EXPECT_EQ(nodes[1].http_url, "http://a:8042");
  auto depths = b_->cluster().QueueDepths().value();
  EXPECT_EQ(depths.first.pending, 2);
  EXPECT_EQ(depths.first.running, 1);
  EXPECT_EQ(depths.second.pending, 0);
  EXPECT_EQ(a_->cluster().ForgetNodes(10200).value(), 1);
  EXPECT_EQ(a_->cluster().ListNodes().value().size(), 1u);
  ASSERT_TRUE(a_->cluster().Leave("b").ok());
  EXPECT_TRUE(a_->cluster().ListNodes().value().empty());
}

TEST_P(ClusterTest, AStudyReceivedThroughTwoNodesBecomesStableOnce) {
  ASSERT_TRUE(a_->PutInstance(Image("1.9", "1.9.1.1", 100)).ok());
  ASSERT_TRUE(b_->PutInstance(Image("1.9", "1.9.1.2", 200)).ok());
  auto first = b_->ai().MarkStable(1000, 5000).value();
  auto second = a_->ai().MarkStable(1000, 5000).value();
  EXPECT_EQ(first.size() + second.size(), 1u);
  EXPECT_EQ(a_->ai().StudySummary(dxhub::store::Scope::Everything(), "1.9").value()->total, 2);
}

TEST_P(ClusterTest, AModelDisabledOnOneNodeIsDisabledEverywhere) {
  ASSERT_TRUE(a_->ai().SetModelEnabled("m@1", false, 100).ok());
  EXPECT_EQ(b_->ai().DisabledModels().value(), std::set<std::string>{"m@1"});
  ASSERT_TRUE(b_->ai().SetModelEnabled("m@1", true, 200).ok());
  EXPECT_TRUE(a_->ai().DisabledModels().value().empty());
}

DXHUB_BOTH_ENGINES(ClusterTest);

}  // namespace
}  // namespace dxhub::store
