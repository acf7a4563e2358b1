// Remote reading on both engines: requests within scope, one claim per request, report versions
// that a signature freezes, standing rules, and turnaround per clinic.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engines.h"
#include "records.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

class ReadingTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto index = Open();
    ASSERT_TRUE(index.ok()) << index.error().ToString();
    ix_ = std::move(index.value());
    InstitutionStore& in = ix_->institutions();
    hospital_ = in.Add({0, "Main Hospital", "HOSP", {}, {}, {}, 0}, 1).value();
    clinic_a_ = in.Add({0, "Clinic A", "CLA", {}, {{"CLINIC_A", ""}}, {}, 0}, 1).value();
    clinic_b_ = in.Add({0, "Clinic B", "CLB", {}, {{"CLINIC_B", ""}}, {}, 0}, 1).value();
    ASSERT_TRUE(in.AddReadsFor("Main Hospital", "Clinic A").ok());
    ASSERT_TRUE(in.AddReadsFor("Main Hospital", "Clinic B").ok());
    central_ = in.ScopeOf(hospital_).value();
    a_ = in.ScopeOf(clinic_a_).value();
    b_ = in.ScopeOf(clinic_b_).value();
  }

  void Send(const std::string& study, const std::string& aet, const std::string& modality = "CT",
            int64_t at = 1000) {
    InstanceRecord r = testing::Image(study, study + ".1.1", at, {});
    r.info.modality = modality;
    r.source = aet;
    r.attribution = {0, aet, "127.0.0.1"};
    ASSERT_TRUE(ix_->PutInstance(r).ok());
  }

  ReadingStore& reading() { return ix_->reading(); }

  ReadRequest Ask(const Scope& scope, const std::string& study, int64_t now = 10'000,
                  ReadPriority priority = ReadPriority::kRoutine, int64_t due_in = 3'600'000) {
    auto r = reading().Request(scope, {study, priority, "cough", "clinician_a", now, now + due_in});
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : ReadRequest{};
  }

  StudyIndexPtr ix_;
  int64_t hospital_ = 0, clinic_a_ = 0, clinic_b_ = 0;
  Scope central_ = Scope::Everything(), a_ = Scope::Everything(), b_ = Scope::Everything();
};

TEST_P(ReadingTest, AClinicRequestsItsOwnStudiesAndTheReaderSeesThem) {
  Send("1.1", "CLINIC_A");
  Send("1.2", "CLINIC_B");
  const ReadRequest q = Ask(a_, "1.1");
  EXPECT_EQ(q.status, "requested");
  EXPECT_EQ(q.institution_name, "Clinic A");
  EXPECT_EQ(q.reason, "cough");
  EXPECT_EQ(q.modalities, "CT");
  // Not a study clinic A sees; not twice while one is open.
  EXPECT_EQ(reading().Request(a_, {"1.2", ReadPriority::kRoutine, "", "x", 1, 2}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(reading().Request(a_, {"1.1", ReadPriority::kStat, "", "x", 1, 2}).error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(reading().Request(a_, {"9.9", ReadPriority::kStat, "", "x", 1, 2}).error().code,
            ErrorCode::kNotFound);

  EXPECT_EQ(reading().Queue(central_, {}).value().total, 1);
  EXPECT_EQ(reading().Queue(a_, {}).value().total, 1);
  EXPECT_EQ(reading().Queue(b_, {}).value().total, 0);
  EXPECT_FALSE(reading().Get(b_, q.id, 0).value().has_value());
  EXPECT_TRUE(reading().Get(central_, q.id, 0).value().has_value());
  EXPECT_FALSE(reading().OfStudy(b_, "1.1", 0).value().has_value());
  EXPECT_EQ(reading().OfStudy(a_, "1.1", 0).value()->id, q.id);
}

TEST_P(ReadingTest, OverdueRequestsRiseThenPriorityThenDueTime) {
  for (const char* s : {"2.1", "2.2", "2.3", "2.4"})
    Send(s, "CLINIC_A");
  Ask(a_, "2.1", 1000, ReadPriority::kRoutine, 100'000);  // due 101,000
  Ask(a_, "2.2", 1000, ReadPriority::kStat, 50'000);      // due  51,000
  Ask(a_, "2.3", 1000, ReadPriority::kRoutine, 5'000);    // due   6,000: overdue at 20,000
  Ask(a_, "2.4", 1000, ReadPriority::kUrgent, 60'000);    // due  61,000
  ReadQueueQuery query;
  query.now_ms = 20'000;
  auto page = reading().Queue(central_, query).value();
  std::vector<std::string> order;
  for (const auto& r : page.requests)
    order.push_back(r.study_uid);
  EXPECT_EQ(order, (std::vector<std::string>{"2.3", "2.2", "2.4", "2.1"}));
  EXPECT_TRUE(page.requests[0].overdue);
  EXPECT_FALSE(page.requests[1].overdue);
}

TEST_P(ReadingTest, OneReaderClaimsARequestEvenWhenManyTryAtOnce) {
  Send("3.1", "CLINIC_A");
  const ReadRequest q = Ask(a_, "3.1");
  std::atomic<int> won{0}, conflicts{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 6; ++i) {
    readers.emplace_back([&, i] {
      auto claim = reading().Claim(central_, q.id, "reader" + std::to_string(i), 20'000);
      if (claim.ok())
        ++won;
      else if (claim.error().code == ErrorCode::kConflict)
        ++conflicts;
    });
  }
  for (auto& t : readers)
    t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(conflicts.load(), 5);
  const ReadRequest held = reading().Get(central_, q.id, 0).value().value();
  EXPECT_EQ(held.status, "claimed");
  // The holder may claim again; another reader learns who holds it; only the holder releases.
  EXPECT_TRUE(reading().Claim(central_, q.id, held.claimed_by, 1).ok());
  auto other = reading().Claim(central_, q.id, "someone", 1);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find(held.claimed_by), std::string::npos);
  EXPECT_EQ(reading().Release(central_, q.id, "someone", false).error().code, ErrorCode::kConflict);
  EXPECT_EQ(reading().Cancel(a_, q.id, 1).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(reading().Release(central_, q.id, held.claimed_by, false).ok());
  EXPECT_EQ(reading().Get(central_, q.id, 0).value()->status, "requested");
  // Clinic B cannot reach it at all.
  EXPECT_EQ(reading().Claim(b_, q.id, "b", 1).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(reading().Cancel(a_, q.id, 1).ok());
  EXPECT_EQ(reading().Get(a_, q.id, 0).value()->status, "cancelled");
}

TEST_P(ReadingTest, AReportIsDraftedBySomeoneWhoHoldsTheRequestSignedOnceThenAddended) {
  Send("4.1", "CLINIC_A");
  const ReadRequest q = Ask(a_, "4.1", 10'000);
  ReportDraft draft{"4.1", "Right lower lobe opacity.", "Pneumonia.", "reader1", 20'000};
  // Claim first.
  EXPECT_EQ(reading().SaveDraft(central_, draft).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(reading().Claim(central_, q.id, "reader1", 15'000).ok());
  auto saved = reading().SaveDraft(central_, draft);
  ASSERT_TRUE(saved.ok()) << saved.error().ToString();
  EXPECT_EQ(saved->version, 1);
  EXPECT_EQ(saved->status, "draft");
  EXPECT_EQ(saved->request, q.id);
  draft.impression = "Pneumonia, right lower lobe.";
  ASSERT_TRUE(reading().SaveDraft(central_, draft).ok());
  // Another reader cannot take over the draft; the clinic does not see drafts.
  ReportDraft intruder = draft;
  intruder.author = "reader2";
  EXPECT_EQ(reading().SaveDraft(central_, intruder).error().code, ErrorCode::kConflict);
  EXPECT_TRUE(reading().Reports(a_, "4.1", false).value().empty());
  EXPECT_EQ(reading().Reports(central_, "4.1", true).value().size(), 1u);
  EXPECT_EQ(reading().Sign(central_, "4.1", 1, "reader2", "1.9.1", "1.9.2", 30'000).error().code,
            ErrorCode::kConflict);

  auto signed_report = reading().Sign(central_, "4.1", 1, "reader1", "1.9.1", "1.9.2", 70'000);
  ASSERT_TRUE(signed_report.ok()) << signed_report.error().ToString();
  EXPECT_EQ(signed_report->status, "signed");
  EXPECT_EQ(signed_report->impression, "Pneumonia, right lower lobe.");
  EXPECT_EQ(signed_report->sr_uid, "1.9.1");
  EXPECT_EQ(reading().Get(a_, q.id, 0).value()->status, "signed");
  // The clinic sees it now; clinic B never.
  auto for_clinic = reading().Reports(a_, "4.1", false).value();
  ASSERT_EQ(for_clinic.size(), 1u);
  EXPECT_EQ(for_clinic[0].findings, "Right lower lobe opacity.");
  EXPECT_TRUE(reading().Reports(b_, "4.1", true).value().empty());
  // Signing again is no edit: there is no draft of version 1 any more.
  EXPECT_EQ(reading().Sign(central_, "4.1", 1, "reader1", "x", "y", 80'000).error().code,
            ErrorCode::kConflict);

  // An addendum is the next version, by any reader; the signed one stays as it was.
  ReportDraft addendum{"4.1", "", "Addendum: compare with prior.", "reader2", 90'000};
  auto v2 = reading().SaveDraft(central_, addendum);
  ASSERT_TRUE(v2.ok()) << v2.error().ToString();
  EXPECT_EQ(v2->version, 2);
  ASSERT_TRUE(reading().Sign(central_, "4.1", 2, "reader2", "1.9.3", "1.9.4", 95'000).ok());
  auto all = reading().Reports(a_, "4.1", false).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].impression, "Pneumonia, right lower lobe.");
  EXPECT_EQ(all[0].signed_ms, 70'000);
  EXPECT_EQ(all[1].impression, "Addendum: compare with prior.");

  // A new request for the study after the signed one is allowed (a new question).
  EXPECT_TRUE(reading().Request(a_, {"4.1", ReadPriority::kUrgent, "", "x", 1, 2}).ok());
}

TEST_P(ReadingTest, RulesRequestCompleteStudiesOnceAndTurnaroundIsPerClinic) {
  ASSERT_TRUE(reading().AddRule("Clinic B", "DX", ReadPriority::kUrgent).ok());
  ASSERT_TRUE(reading().AddRule("Clinic B", "", ReadPriority::kRoutine).ok());
  ASSERT_TRUE(reading().AddRule("Clinic A", "MR", ReadPriority::kStat).ok());
  EXPECT_EQ(reading().AddRule("Nowhere", "DX", ReadPriority::kStat).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(reading().Rules().value().size(), 3u);

  Send("5.1", "CLINIC_B", "DX");
  Send("5.2", "CLINIC_B", "CT");
  Send("5.3", "CLINIC_A", "DX");  // clinic A has no DX rule
  Send("5.4", "CLINIC_A", "MR");
  // Not before they are complete.
  TurnaroundTargets targets;
  EXPECT_EQ(reading().ApplyRules(0, 2000, targets).value(), 0);
  ASSERT_EQ(ix_->ai().MarkStable(500, 2000).value().size(), 4u);
  EXPECT_EQ(reading().ApplyRules(1000, 3000, targets).value(), 3);
  EXPECT_EQ(reading().ApplyRules(1000, 3000, targets).value(), 0);  // idempotent
  auto b = reading().OfStudy(central_, "5.1", 3000).value().value();
  EXPECT_EQ(b.priority, "urgent");  // the most urgent matching rule
  EXPECT_EQ(b.requested_by, "rule");
  EXPECT_EQ(b.due_ms, 3000 + targets.urgent_ms);
  EXPECT_EQ(reading().OfStudy(central_, "5.2", 3000).value()->priority, "routine");
  EXPECT_FALSE(reading().OfStudy(central_, "5.3", 3000).value().has_value());
  EXPECT_EQ(reading().OfStudy(central_, "5.4", 3000).value()->priority, "stat");
  // A request the clinic withdrew is not made again by the rule.
  const int64_t cancelled = reading().OfStudy(central_, "5.2", 3000).value()->id;
  ASSERT_TRUE(reading().Cancel(b_, cancelled, 3500).ok());
  EXPECT_EQ(reading().ApplyRules(1000, 4000, targets).value(), 0);

  // Sign 5.1 late (after its due time) and 5.4 in time.
  for (const auto& [uid, user] : {std::pair{"5.1", "r1"}, std::pair{"5.4", "r2"}}) {
    const int64_t id = reading().OfStudy(central_, uid, 0).value()->id;
    ASSERT_TRUE(reading().Claim(central_, id, user, 4000).ok());
    ASSERT_TRUE(reading().SaveDraft(central_, {uid, "f", "i", user, 4000}).ok());
  }
  const int64_t late = 3000 + targets.urgent_ms + 1000;
  ASSERT_TRUE(reading().Sign(central_, "5.1", 1, "r1", "1.1", "1.2", late).ok());
  ASSERT_TRUE(reading().Sign(central_, "5.4", 1, "r2", "1.3", "1.4", 63'000).ok());
  auto stats = reading().Turnaround(central_, 0, 10'000, late).value();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].institution, "Clinic A");
  EXPECT_EQ(stats[0].requested, 1);
  EXPECT_EQ(stats[0].signed_count, 1);
  EXPECT_EQ(stats[0].overdue, 0);
  EXPECT_DOUBLE_EQ(stats[0].p50_s, 60.0);
  EXPECT_EQ(stats[1].institution, "Clinic B");
  EXPECT_EQ(stats[1].requested, 2);  // 5.1 signed late, 5.2 cancelled
  EXPECT_EQ(stats[1].signed_count, 1);
  EXPECT_EQ(stats[1].overdue, 1);
  // A clinic sees only its own line.
  auto mine = reading().Turnaround(a_, 0, 10'000, late).value();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].institution, "Clinic A");
}

DXHUB_BOTH_ENGINES(ReadingTest);

}  // namespace
}  // namespace dxhub::store
