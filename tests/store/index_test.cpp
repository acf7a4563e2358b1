#include <gtest/gtest.h>

#include <thread>

#include "../test_util.h"
#include "engines.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

using dxhub::testing::ScratchDir;

class IndexTest : public dxhub::testing::EngineTest {};

InstanceRecord Record(const std::string& study, const std::string& series, const std::string& sop,
                      const std::string& modality = "CT", const std::string& pid = "P1",
                      const std::string& name = "DOE^JANE", const std::string& date = "20260101") {
  InstanceRecord r;
  r.info.patient_id = pid;
  r.info.patient_name = name;
  r.info.study_uid = study;
  r.info.study_date = date;
  r.info.series_uid = series;
  r.info.modality = modality;
  r.info.sop_uid = sop;
  r.info.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.info.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  r.blob_key = std::string(64, 'a') + sop;  // unique per instance
  r.blob_key = r.blob_key.substr(r.blob_key.size() - 64);
  r.size = 100;
  r.sha256 = "x";
  r.source = "TEST";
  r.received_ms = 1000;
  return r;
}

TEST_P(IndexTest, CountsPerLevelAndDetail) {
  auto index = Open();
  ASSERT_TRUE(index.ok()) << index.error().ToString();
  StudyIndex& ix = **index;
  EXPECT_EQ(ix.SchemaVersion(), 16);
  ASSERT_TRUE(ix.PutInstance(Record("1.1", "1.1.1", "1.1.1.1")).ok());
  ASSERT_TRUE(ix.PutInstance(Record("1.1", "1.1.1", "1.1.1.2")).ok());
  ASSERT_TRUE(ix.PutInstance(Record("1.1", "1.1.2", "1.1.2.1", "SR")).ok());
  ASSERT_TRUE(
      ix.PutInstance(Record("1.2", "1.2.1", "1.2.1.1", "MR", "P2", "ROE^RICHARD", "20250505"))
          .ok());

  auto counts = ix.Counts(dxhub::store::Scope::Everything()).value();
  EXPECT_EQ(counts.patients, 2);
  EXPECT_EQ(counts.studies, 2);
  EXPECT_EQ(counts.series, 3);
  EXPECT_EQ(counts.instances, 4);

  auto detail = ix.GetStudy(dxhub::store::Scope::Everything(), "1.1").value();
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->study.num_series, 2);
  EXPECT_EQ(detail->study.num_instances, 3);
  EXPECT_EQ(detail->study.modalities, (std::vector<std::string>{"CT", "SR"}));
  ASSERT_EQ(detail->series.size(), 2u);
  EXPECT_EQ(detail->series[0].instances.size() + detail->series[1].instances.size(), 3u);
  EXPECT_FALSE(ix.GetStudy(dxhub::store::Scope::Everything(), "9.9").value().has_value());
}

TEST_P(IndexTest, ASeriesNeverSpansTwoStudies) {
  auto ix = Open().value();
  ASSERT_TRUE(ix->PutInstance(Record("1.1", "1.1.1", "1.1.1.1")).ok());
  // The only image of its series, re-sent with a corrected study: the series moves with it.
  ASSERT_TRUE(ix->PutInstance(Record("1.2", "1.1.1", "1.1.1.1")).ok());
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.2").value()->study.num_instances, 1);
  // Once the series holds another image, no instance may take it to another study.
  ASSERT_TRUE(ix->PutInstance(Record("1.2", "1.1.1", "1.1.1.2")).ok());
  for (const char* sop : {"1.1.1.1", "1.1.1.3"}) {
    auto refused = ix->PutInstance(Record("1.3", "1.1.1", sop));
    ASSERT_FALSE(refused.ok()) << sop;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(refused.error().message.find("series already belongs to study 1.2"),
              std::string::npos)
        << refused.error().message;
  }
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.2").value()->study.num_instances, 2);
  EXPECT_EQ(ix->Counts(dxhub::store::Scope::Everything())->instances, 2);
}

TEST_P(IndexTest, ReplaceKeepsCountsAndUpdatesRow) {
  auto ix = Open().value();
  ASSERT_TRUE(ix->PutInstance(Record("1.1", "1.1.1", "1.1.1.1")).ok());
  auto r = Record("1.1", "1.1.1", "1.1.1.1");
  r.sha256 = "y";
  r.size = 200;
  ASSERT_TRUE(ix->PutInstance(r).ok());
  EXPECT_EQ(ix->Counts(dxhub::store::Scope::Everything())->instances, 1);
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.1").value()->study.num_instances, 1);
  auto found = ix->FindInstance("1.1.1.1").value();
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->sha256, "y");
  EXPECT_EQ(found->size, 200u);
  // Moving an instance to another series keeps the per-series counts right.
  ASSERT_TRUE(ix->PutInstance(Record("1.1", "1.1.9", "1.1.1.1")).ok());
  auto d = ix->GetStudy(dxhub::store::Scope::Everything(), "1.1").value().value();
  int total = 0;
  for (const auto& s : d.series)
    total += s.num_instances;
  EXPECT_EQ(total, 1);
  EXPECT_EQ(d.study.num_instances, 1);
}

TEST_P(IndexTest, PendingRowsAreClearedOrRemovedWithTheirEmptyParents) {
  auto ix = Open().value();
  auto pending = [](InstanceRecord r) {
    r.pending_area = "123-area";
    r.ai_jobs = {AiJobSpec{"m", "1"}};
    return r;
  };
  ASSERT_TRUE(ix->PutInstance(pending(Record("1.1", "1.1.1", "1.1.1.1"))).ok());
  ASSERT_TRUE(ix->PutInstance(pending(Record("1.1", "1.1.1", "1.1.1.2"))).ok());
  ASSERT_TRUE(
      ix->PutInstance(pending(Record("2.2", "2.2.1", "2.2.1.1", "CT", "P2", "ROE^R"))).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(ix->ForEachPending([&](const std::string& area, const StoredInstance& row) {
                  EXPECT_EQ(area, "123-area");
                  seen.push_back(row.sop_uid);
                }).ok());
  EXPECT_EQ(seen.size(), 3u);

  ASSERT_TRUE(ix->ClearPending("other-area", {"1.1.1.1"}).ok());  // not its area: kept
  ASSERT_TRUE(ix->ClearPending("123-area", {"1.1.1.1"}).ok());
  EXPECT_FALSE(ix->RemoveUnacknowledged("1.1.1.1", "123-area").value());  // durable: kept
  EXPECT_TRUE(ix->RemoveUnacknowledged("1.1.1.2", "123-area").value());
  EXPECT_TRUE(ix->RemoveUnacknowledged("2.2.1.1", "123-area").value());
  EXPECT_FALSE(ix->RemoveUnacknowledged("2.2.1.1", "123-area").value());  // already gone

  seen.clear();
  ASSERT_TRUE(ix->ForEachPending([&](const std::string&, const StoredInstance& row) {
                  seen.push_back(row.sop_uid);
                }).ok());
  EXPECT_TRUE(seen.empty());
  auto counts = ix->Counts(dxhub::store::Scope::Everything()).value();
  EXPECT_EQ(counts.instances, 1);
  EXPECT_EQ(counts.series, 1);
  EXPECT_EQ(counts.studies, 1);  // 2.2 held only the removed instance
  EXPECT_EQ(counts.patients, 1);
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.1").value()->study.num_instances, 1);
  EXPECT_FALSE(ix->GetStudy(dxhub::store::Scope::Everything(), "2.2").value().has_value());
}

TEST_P(IndexTest, ASeriesCannotSpanTwoStudies) {
  auto ix = Open().value();
  ASSERT_TRUE(ix->PutInstance(Record("1.1", "1.1.1", "1.1.1.1")).ok());
  // Another patient's study claiming the same series: refused, and study 1.1 keeps its image.
  Status refused = ix->PutInstance(Record("2.2", "1.1.1", "2.2.1.1", "CT", "P2", "ROE^RICHARD"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("already belongs to study 1.1"), std::string::npos);
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.1").value()->study.num_instances, 1);
  EXPECT_FALSE(ix->GetStudy(dxhub::store::Scope::Everything(), "2.2").value().has_value());
  EXPECT_FALSE(ix->FindInstance("2.2.1.1").value().has_value());
  // The series' only instance re-sent with a corrected study moves, series and all.
  ASSERT_TRUE(ix->PutInstance(Record("3.3", "1.1.1", "1.1.1.1")).ok());
  auto moved = ix->GetStudy(dxhub::store::Scope::Everything(), "3.3").value().value();
  EXPECT_EQ(moved.study.num_instances, 1);
  EXPECT_EQ(moved.study.num_series, 1);
  auto left = ix->GetStudy(dxhub::store::Scope::Everything(), "1.1").value().value();
  EXPECT_EQ(left.study.num_instances, 0);
  EXPECT_EQ(left.study.num_series, 0);
  EXPECT_EQ(ix->Counts(dxhub::store::Scope::Everything())->instances, 1);
}

TEST_P(IndexTest, StudyFilters) {
  auto ix = Open().value();
  ASSERT_TRUE(
      ix->PutInstance(Record("1.1", "1.1.1", "1.1.1.1", "CT", "P1", "ZHANG^WEI", "20260101")).ok());
  ASSERT_TRUE(
      ix->PutInstance(Record("1.2", "1.2.1", "1.2.1.1", "MR", "P2", "LI^MING", "20260315")).ok());
  ASSERT_TRUE(
      ix->PutInstance(Record("1.3", "1.3.1", "1.3.1.1", "CT", "P3", "王^小东", "20261120")).ok());
  auto uids = [&](const StudyQuery& q) {
    std::vector<std::string> out;
    auto page = ix->FindStudies(dxhub::store::Scope::Everything(), q);
    for (const auto& s : page.value().studies)
      out.push_back(s.study_uid);
    std::sort(out.begin(), out.end());
    return out;
  };
  StudyQuery q;
  EXPECT_EQ(uids(q).size(), 3u);
  q.modality = "CT";
  EXPECT_EQ(uids(q), (std::vector<std::string>{"1.1", "1.3"}));
  q = {};
  q.patient_name = "zhang*";
  EXPECT_EQ(uids(q), (std::vector<std::string>{"1.1"}));
  q = {};
  q.patient_name = "王*";
  EXPECT_EQ(uids(q), (std::vector<std::string>{"1.3"}));
  q = {};
  q.patient_id = "P2";
  EXPECT_EQ(uids(q), (std::vector<std::string>{"1.2"}));
  q = {};
  q.date_from = "20260201";
  q.date_to = "20260401";
  EXPECT_EQ(uids(q), (std::vector<std::string>{"1.2"}));
  q = {};
  q.patient_name = "100%";  // LIKE metacharacters are literal
  EXPECT_TRUE(uids(q).empty());
  q = {};
  q.limit = 2;
  auto page = ix->FindStudies(dxhub::store::Scope::Everything(), q).value();
  EXPECT_EQ(page.total, 3);
  EXPECT_EQ(page.studies.size(), 2u);
  EXPECT_EQ(page.studies[0].study_uid, "1.3");  // newest study date first
  q.offset = 2;
  EXPECT_EQ(ix->FindStudies(dxhub::store::Scope::Everything(), q).value().studies.size(), 1u);
}

TEST_P(IndexTest, ANameSearchFollowsTheCorrectedNameOnEveryStudyOfThePatient) {
  auto ix = Open().value();
  ASSERT_TRUE(ix->PutInstance(Record("2.1", "2.1.1", "2.1.1.1", "CT", "P9", "ZHNAG^WEI")).ok());
  ASSERT_TRUE(ix->PutInstance(Record("2.2", "2.2.1", "2.2.1.1", "CT", "P9", "ZHNAG^WEI")).ok());
  // A third study arrives with the name corrected; one without a name changes nothing.
  ASSERT_TRUE(ix->PutInstance(Record("2.3", "2.3.1", "2.3.1.1", "CT", "P9", "ZHANG^WEI")).ok());
  ASSERT_TRUE(ix->PutInstance(Record("2.3", "2.3.1", "2.3.1.2", "CT", "P9", "")).ok());
  auto count = [&](const std::string& name) {
    StudyQuery q;
    q.patient_name = name;
    auto page = ix->FindStudies(dxhub::store::Scope::Everything(), q);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->total : -1;
  };
  EXPECT_EQ(count("zhang*"), 3);
  EXPECT_EQ(count("ZHANG^WEI"), 3);
  EXPECT_EQ(count("zhnag*"), 0);
  auto detail = ix->GetStudy(dxhub::store::Scope::Everything(), "2.1");
  ASSERT_TRUE(detail.ok() && detail->has_value());
  EXPECT_EQ((*detail)->study.patient_name, "ZHANG^WEI");
}

TEST_P(IndexTest, ConcurrentWritersAllLand) {
  auto ix = Open().value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string sop = "1.5." + std::to_string(t) + "." + std::to_string(i);
        ASSERT_TRUE(ix->PutInstance(Record("1.5", "1.5." + std::to_string(t), sop)).ok());
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ix->Counts(dxhub::store::Scope::Everything())->instances, 400);
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.5").value()->study.num_instances,
            400);
  EXPECT_EQ(ix->GetStudy(dxhub::store::Scope::Everything(), "1.5").value()->study.num_series, 8);
}

TEST_P(IndexTest, ReopenKeepsDataAndSchema) {
  {
    auto ix = Open().value();
    ASSERT_TRUE(ix->PutInstance(Record("1.1", "1.1.1", "1.1.1.1")).ok());
  }
  auto ix = Open().value();
  EXPECT_EQ(ix->SchemaVersion(), 16);
  EXPECT_EQ(ix->Counts(dxhub::store::Scope::Everything())->instances, 1);
}

DXHUB_BOTH_ENGINES(IndexTest);

}  // namespace
}  // namespace dxhub::store

namespace dxhub::store {
namespace {

class QueryTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.error().ToString();
    ix_ = std::move(opened.value());
    auto put = [&](InstanceRecord r, int series_number, int instance_number) {
      r.info.series_number = series_number;
      r.info.instance_number = instance_number;
      ASSERT_TRUE(ix_->PutInstance(r).ok());
    };
    put(Record("1.1", "1.1.1", "1.1.1.1", "CT", "P1", "ZHANG^WEI", "20260101"), 1, 2);
    put(Record("1.1", "1.1.1", "1.1.1.2", "CT", "P1", "ZHANG^WEI", "20260101"), 1, 1);
    put(Record("1.1", "1.1.2", "1.1.2.1", "SR", "P1", "ZHANG^WEI", "20260101"), 2, 1);
    put(Record("1.2", "1.2.1", "1.2.1.1", "MR", "P2", "LI^MING", "20260315"), 1, 1);
  }
  std::vector<std::string> Uids(const IndexQuery& q) {
    std::vector<std::string> out;
    auto rows = ix_->Query(dxhub::store::Scope::Everything(), q);
    EXPECT_TRUE(rows.ok()) << rows.error().ToString();
    if (!rows.ok())
      return out;
    for (const auto& r : *rows) {
      out.push_back(q.level == Level::kStudy    ? r.study.study_uid
                    : q.level == Level::kSeries ? r.series.series_uid
                                                : r.instance.sop_uid);
    }
    return out;
  }
  StudyIndexPtr ix_;
};

TEST_P(QueryTest, EachLevelWithItsKeys) {
  EXPECT_EQ(Uids({Level::kStudy, {}}), (std::vector<std::string>{"1.2", "1.1"}));
  EXPECT_EQ(Uids({Level::kSeries, {{Field::kStudyUid, Filter::Kind::kList, {"1.1"}}}}),
            (std::vector<std::string>{"1.1.1", "1.1.2"}));
  // Instances come in instance-number order.
  EXPECT_EQ(Uids({Level::kInstance, {{Field::kSeriesUid, Filter::Kind::kList, {"1.1.1"}}}}),
            (std::vector<std::string>{"1.1.1.2", "1.1.1.1"}));
  EXPECT_EQ(Uids({Level::kSeries, {{Field::kModality, Filter::Kind::kExact, {"SR"}}}}),
            (std::vector<std::string>{"1.1.2"}));
  EXPECT_EQ(Uids({Level::kStudy, {{Field::kModalitiesInStudy, Filter::Kind::kExact, {"SR"}}}}),
            (std::vector<std::string>{"1.1"}));
  EXPECT_EQ(Uids({Level::kInstance, {{Field::kStudyDate, Filter::Kind::kRange, {"20260301", ""}}}}),
            (std::vector<std::string>{"1.2.1.1"}));
  EXPECT_EQ(Uids({Level::kStudy, {{Field::kStudyUid, Filter::Kind::kList, {"1.2", "9.9"}}}}),
            (std::vector<std::string>{"1.2"}));
  auto rows = ix_->Query(dxhub::store::Scope::Everything(),
                         {Level::kInstance, {{Field::kSopUid, Filter::Kind::kList, {"1.2.1.1"}}}});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].series.modality, "MR");
  EXPECT_EQ((*rows)[0].study.patient_name, "LI^MING");
  EXPECT_EQ((*rows)[0].blob_key.size(), 64u);
}

TEST_P(QueryTest, WildcardsAreCaseSensitiveExceptForNames) {
  EXPECT_EQ(Uids({Level::kStudy, {{Field::kPatientName, Filter::Kind::kWildcard, {"zh*"}}}}),
            (std::vector<std::string>{"1.1"}));
  EXPECT_EQ(Uids({Level::kStudy, {{Field::kPatientId, Filter::Kind::kWildcard, {"p*"}}}}),
            (std::vector<std::string>{}));
  EXPECT_EQ(Uids({Level::kStudy, {{Field::kPatientId, Filter::Kind::kWildcard, {"P?"}}}}),
            (std::vector<std::string>{"1.2", "1.1"}));
  EXPECT_EQ(Uids({Level::kStudy, {{Field::kPatientId, Filter::Kind::kWildcard, {"[P*"}}}}),
            (std::vector<std::string>{}));
}

TEST_P(QueryTest, PagingAndLevelChecks) {
  IndexQuery q{Level::kInstance, {}, 2, 1};
  EXPECT_EQ(Uids(q).size(), 2u);
  auto bad = ix_->Query(dxhub::store::Scope::Everything(),
                        {Level::kStudy, {{Field::kModality, Filter::Kind::kExact, {"CT"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

DXHUB_BOTH_ENGINES(QueryTest);

}  // namespace
}  // namespace dxhub::store
