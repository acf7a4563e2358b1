#include <gtest/gtest.h>

#include <map>
#include <set>

#include "../test_util.h"
#include "engines.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

using dxhub::testing::ScratchDir;

constexpr int64_t kMinute = 60'000;

InstanceRecord Image(const std::string& study, const std::string& sop, int64_t at,
                     const std::string& name = "DOE^JANE", const std::string& modality = "CT") {
  InstanceRecord r;
  r.info.patient_id = "P-" + study;
  r.info.patient_name = name;
  r.info.study_uid = study;
  r.info.study_date = "20261120";
  r.info.study_description = "Chest " + study;
  r.info.series_uid = study + ".1";
  r.info.modality = modality;
  r.info.sop_uid = sop;
  r.info.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.info.frames = 1;
  r.blob_key = std::string(64 - sop.size(), 'b') + sop;
  r.sha256 = "x";
  r.received_ms = at;
  r.ai_jobs = {{"m", "1"}};
  return r;
}

class ReviewStoreTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.error().ToString();
    index_ = std::move(opened.value());
  }
  ReviewStore& reviews() { return index_->reviews(); }

  // Runs every pending job; `high_risk` lists the SOP UIDs the "model" calls high-risk with the
  // given risk score, `failed` those it cannot read.
  void RunAi(const std::map<std::string, double>& high_risk, const std::set<std::string>& failed,
             int64_t now) {
    auto jobs = index_->ai().ClaimJobs(1000, now).value();
    std::vector<AiStore::Completed> done;
    for (const auto& job : jobs) {
      AiOutcome o;
      if (failed.count(job.sop_uid) != 0) {
        o.reason = "decode_error: bad";
      } else {
        o.analysed = true;
        auto it = high_risk.find(job.sop_uid);
        o.high_risk = it != high_risk.end();
        o.risk_score = o.high_risk ? it->second : 0.1;
        o.label = o.high_risk ? "cancer, high risk" : "normal";
        o.frames = 1;
      }
      done.push_back({job.id, o});
    }
    ASSERT_EQ(index_->ai().CompleteJobs(done, now).value(), static_cast<int>(done.size()));
  }

  std::vector<std::string> Order(WorklistQuery q) {
    auto page = reviews().Worklist(dxhub::store::Scope::Everything(), q);
    EXPECT_TRUE(page.ok()) << page.error().ToString();
    std::vector<std::string> uids;
    for (const auto& row : page->rows)
      uids.push_back(row.study_uid);
    return uids;
  }

  StudyIndexPtr index_;
};

TEST_P(ReviewStoreTest, RiskOrdersTheWorklistUntilTheWaitingCapLiftsAStudy) {
  // 1.1 normal, oldest; 1.2 failed; 1.3 high risk 0.7; 1.4 high risk 0.95, newest.
  ASSERT_TRUE(index_->PutInstance(Image("1.1", "1.1.1.1", 0)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.2", "1.2.1.1", 10 * kMinute)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.3", "1.3.1.1", 20 * kMinute)).ok());
  ASSERT_TRUE(index_->PutInstance(Image("1.4", "1.4.1.1", 30 * kMinute)).ok());
  RunAi({{"1.3.1.1", 0.7}, {"1.4.1.1", 0.95}}, {"1.2.1.1"}, 31 * kMinute);

  WorklistQuery q;
  q.wait_cap_ms = 120 * kMinute;
  q.now_ms = 40 * kMinute;
  EXPECT_EQ(Order(q), (std::vector<std::string>{"1.4", "1.3", "1.2", "1.1"}));

  // Two hours after the normal study arrived it rises above every high-risk one.
  q.now_ms = 125 * kMinute;
  auto page = reviews().Worklist(dxhub::store::Scope::Everything(), q).value();
  ASSERT_EQ(page.rows.size(), 4u);
  EXPECT_EQ(page.rows[0].study_uid, "1.1");
  EXPECT_TRUE(page.rows[0].overdue);
  EXPECT_EQ(page.rows[1].study_uid, "1.4");
  EXPECT_FALSE(page.rows[1].overdue);
  EXPECT_EQ(page.rows[1].ai.high_risk, 1);
  EXPECT_EQ(page.rows[1].review_status, "awaiting");
  EXPECT_EQ(page.rows[2].ai.failed, 0);  // 1.3: high risk, not failed
  EXPECT_EQ(page.total, 4);

  // Opening the normal study closes it: it drops to the bottom with the done studies.
  ASSERT_TRUE(reviews().MarkViewed("1.1", 126 * kMinute).ok());
  q.now_ms = 127 * kMinute;
  EXPECT_EQ(Order(q).back(), "1.1");
  q.status = "open";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"1.4", "1.3", "1.2"}));
  q.now_ms = 160 * kMinute;  // all three overdue: oldest first
  EXPECT_EQ(Order(q), (std::vector<std::string>{"1.2", "1.3", "1.4"}));
}

TEST_P(ReviewStoreTest, FiltersAndPaging) {
  ASSERT_TRUE(index_->PutInstance(Image("2.1", "2.1.1.1", 0, "WANG^FANG", "CT")).ok());
  ASSERT_TRUE(index_->PutInstance(Image("2.2", "2.2.1.1", 1, "LI^NA", "CR")).ok());
  ASSERT_TRUE(index_->PutInstance(Image("2.3", "2.3.1.1", 2, "ZHANG^WEI", "CT")).ok());
  RunAi({{"2.2.1.1", 0.9}}, {}, 5);
  ASSERT_TRUE(index_->PutInstance(Image("2.4", "2.4.1.1", 6, "CHEN^JIE_%", "MR")).ok());

  WorklistQuery q;
  q.wait_cap_ms = 120 * kMinute;
  q.now_ms = 10;
  q.modality = "CT";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.1", "2.3"}));
  q.modality.clear();
  q.risk = "high";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.2"}));
  q.risk = "pending";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.4"}));
  q.risk = "normal";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.1", "2.3"}));
  q.risk.clear();
  q.text = "zhang";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.3"}));
  q.text = "_%";  // LIKE wildcards are literal
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.4"}));
  q.text.clear();
  q.status = "awaiting";
  EXPECT_EQ(Order(q), (std::vector<std::string>{"2.2"}));
  q.status = "bogus";
  EXPECT_FALSE(reviews().Worklist(dxhub::store::Scope::Everything(), q).ok());
  q.status.clear();
  q.date_from = "20261121";
  EXPECT_TRUE(Order(q).empty());
  q.date_from = "20261120";
  q.limit = 2;
  q.offset = 2;
  auto page = reviews().Worklist(dxhub::store::Scope::Everything(), q).value();
  EXPECT_EQ(page.total, 4);
  EXPECT_EQ(page.rows.size(), 2u);
}

TEST_P(ReviewStoreTest, DecisionsSetReviewStatusAndStatistics) {
  for (const char* sop : {"3.1.1.1", "3.1.1.2", "3.1.1.3"})
    ASSERT_TRUE(index_->PutInstance(Image("3.1", sop, 0)).ok());
  RunAi({{"3.1.1.1", 0.9}, {"3.1.1.2", 0.8}}, {}, 10'000);
  const std::string before = reviews().ChangeStamp().value();

  DecisionInput d;
  d.study_uid = "3.1";
  d.username = "dr.li";
  d.now_ms = 70'000;
  d.verdict = "maybe";
  EXPECT_EQ(reviews().Decide(d).error().code, ErrorCode::kInvalidArgument);
  d.verdict = "confirm";
  d.sop_uid = "3.1.1.3";  // normal image: nothing to decide
  EXPECT_EQ(reviews().Decide(d).error().code, ErrorCode::kInvalidArgument);
  d.sop_uid = "9.9.9";
  EXPECT_EQ(reviews().Decide(d).error().code, ErrorCode::kNotFound);
  d.study_uid = "9.9";
  EXPECT_EQ(reviews().Decide(d).error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(reviews().MarkViewed("3.1", 40'000).ok());
  ASSERT_TRUE(reviews().MarkViewed("3.1", 50'000).ok());  // the first view counts
  d.study_uid = "3.1";
  d.sop_uid = "3.1.1.1";
  d.comment = "mass in the lower third";
  EXPECT_EQ(reviews().Decide(d).value(), "partial");
  EXPECT_NE(reviews().ChangeStamp().value(), before);
  d.sop_uid = "3.1.1.2";
  d.verdict = "reject";
  d.now_ms = 100'000;
  EXPECT_EQ(reviews().Decide(d).value(), "confirmed");  // one finding confirmed

  auto row = reviews().Review(dxhub::store::Scope::Everything(), "3.1").value();
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->review_status, "confirmed");
  EXPECT_EQ(row->reviewed_by, "dr.li");
  EXPECT_EQ(row->viewed_ms, 40'000);
  EXPECT_EQ(row->reviewed_ms, 100'000);
  auto decisions = reviews().Decisions(dxhub::store::Scope::Everything(), "3.1").value();
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].verdict, "reject");
  EXPECT_EQ(decisions[1].comment, "mass in the lower third");
  EXPECT_EQ(decisions[1].model, "m");

  // Changing one's mind is a new row; the latest counts.
  d.verdict = "reject";
  d.sop_uid = "3.1.1.1";
  EXPECT_EQ(reviews().Decide(d).value(), "rejected");

  auto stats = reviews().Stats(0, 1'000'000).value();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].images, 3);
  EXPECT_EQ(stats[0].high_risk, 2);
  EXPECT_EQ(stats[0].confirmed, 0);
  EXPECT_EQ(stats[0].rejected, 2);
  EXPECT_EQ(stats[0].undecided, 0);
  EXPECT_DOUBLE_EQ(stats[0].received_to_ai_p50, 10.0);
  EXPECT_DOUBLE_EQ(stats[0].ai_to_viewed_p50, 30.0);
  EXPECT_DOUBLE_EQ(stats[0].viewed_to_reviewed_p50, 60.0);
  EXPECT_DOUBLE_EQ(stats[0].received_to_reviewed_p50, 100.0);
}

TEST_P(ReviewStoreTest, AStudyVerdictDecidesTheFindingsNotYetDecided) {
  for (const char* sop : {"4.1.1.1", "4.1.1.2", "4.1.1.3"})
    ASSERT_TRUE(index_->PutInstance(Image("4.1", sop, 0)).ok());
  RunAi({{"4.1.1.1", 0.9}, {"4.1.1.2", 0.8}, {"4.1.1.3", 0.6}}, {}, 1000);
  DecisionInput d;
  d.study_uid = "4.1";
  d.username = "dr.wu";
  d.now_ms = 2000;
  d.sop_uid = "4.1.1.1";
  d.verdict = "confirm";
  ASSERT_EQ(reviews().Decide(d).value(), "partial");
  d.sop_uid.clear();
  d.verdict = "reject";
  EXPECT_EQ(reviews().Decide(d).value(), "confirmed");  // 4.1.1.1 keeps its confirmation
  auto stats = reviews().Stats(0, 10'000).value();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].confirmed, 1);
  EXPECT_EQ(stats[0].rejected, 2);

  // A study with no high-risk finding has nothing to decide.
  ASSERT_TRUE(index_->PutInstance(Image("4.2", "4.2.1.1", 0)).ok());
  RunAi({}, {}, 3000);
  d.study_uid = "4.2";
  EXPECT_EQ(reviews().Decide(d).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(reviews().Review(dxhub::store::Scope::Everything(), "4.2").value()->review_status,
            "none");
}

TEST_P(ReviewStoreTest, ARerunThatClearsAFindingLeavesNothingToConfirm) {
  ASSERT_TRUE(index_->PutInstance(Image("5.1", "5.1.1.1", 0)).ok());
  RunAi({{"5.1.1.1", 0.9}}, {}, 1000);
  EXPECT_EQ(reviews().Review(dxhub::store::Scope::Everything(), "5.1").value()->review_status,
            "awaiting");
  auto specs = [](const std::string&, const std::string&, const std::string&) {
    return std::vector<AiJobSpec>{{"m", "2"}};
  };
  ASSERT_EQ(index_->ai().EnqueueStudy("5.1", specs, 2000).value(), 1);
  RunAi({}, {}, 3000);
  // The newer version of the model reads the image as normal: nothing is left to confirm.
  EXPECT_EQ(reviews().Review(dxhub::store::Scope::Everything(), "5.1").value()->review_status,
            "none");
}

DXHUB_BOTH_ENGINES(ReviewStoreTest);

}  // namespace
}  // namespace dxhub::store
