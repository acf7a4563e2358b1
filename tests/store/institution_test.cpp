// Institutions on both engines: attribution of new studies, patients kept apart by issuer, and
// the scope every query of patient data takes.

#include <gtest/gtest.h>

#include <algorithm>

#include "engines.h"
#include "records.h"
#include "store/study_index.h"

namespace dxhub::store {
namespace {

class InstitutionTest : public dxhub::testing::EngineTest {
 protected:
  void SetUp() override {
    auto index = Open();
    ASSERT_TRUE(index.ok()) << index.error().ToString();
    ix_ = std::move(index.value());
    InstitutionStore& in = ix_->institutions();
    hospital_ =
        in.Add({0, "Main Hospital", "HOSP", {"main hosp"}, {{"HOSP_PACS", ""}}, {}, 0}, 1).value();
    clinic_a_ = in.Add({0, "Clinic A", "CLA", {}, {{"CLINIC_A", "10.0.0.5"}}, {}, 0}, 1).value();
    clinic_b_ = in.Add({0, "Clinic B", "CLB", {}, {{"CLINIC_B", ""}}, {}, 0}, 1).value();
    ASSERT_TRUE(in.AddReadsFor("Main Hospital", "Clinic A").ok());
    ASSERT_TRUE(in.AddReadsFor("Main Hospital", "Clinic B").ok());
  }

  // One CT image of `study` for patient `pid`, sent by `aet` from `ip`.
  Status Send(const std::string& study, const std::string& pid, const std::string& aet,
              const std::string& ip = "127.0.0.1", const std::string& issuer = "") {
    InstanceRecord r = testing::Image(study, study + ".1.1", 1000, {});
    r.info.patient_id = pid;
    r.info.issuer_of_patient_id = issuer;
    r.source = aet;
    r.attribution = {0, aet, ip};
    return ix_->PutInstance(r);
  }

  std::vector<std::string> Studies(const Scope& scope) {
    auto page = ix_->FindStudies(scope, StudyQuery{});
    EXPECT_TRUE(page.ok()) << page.error().ToString();
    std::vector<std::string> uids;
    for (const auto& s : page->studies)
      uids.push_back(s.study_uid);
    std::sort(uids.begin(), uids.end());
    return uids;
  }

  StudyIndexPtr ix_;
  int64_t hospital_ = 0, clinic_a_ = 0, clinic_b_ = 0;
};

TEST_P(InstitutionTest, StudiesAreAttributedByTheFirstRuleThatNamesOne) {
  ASSERT_TRUE(Send("1.1", "P1", "HOSP_PACS").ok());
  ASSERT_TRUE(Send("1.2", "P1", "CLINIC_A", "10.0.0.5").ok());
  // Clinic A's AE title from another address is not clinic A.
  ASSERT_TRUE(Send("1.3", "P1", "CLINIC_A", "10.0.0.9").ok());
  // InstitutionName is the last rule, matched case-insensitively, aliases too.
  InstanceRecord named = testing::Image("1.4", "1.4.1.1", 1000, {});
  named.info.institution_name = "MAIN HOSP";
  ASSERT_TRUE(ix_->PutInstance(named).ok());
  // An explicit institution (a STOW client's, an import option) wins over the rest.
  InstanceRecord stowed = testing::Image("1.5", "1.5.1.1", 1000, {});
  stowed.info.institution_name = "Main Hospital";
  stowed.attribution = {clinic_b_, "HOSP_PACS", ""};
  ASSERT_TRUE(ix_->PutInstance(stowed).ok());

  auto institution = [&](const std::string& uid) {
    return ix_->GetStudy(Scope::Everything(), uid).value()->study.institution;
  };
  EXPECT_EQ(institution("1.1"), "Main Hospital");
  EXPECT_EQ(institution("1.2"), "Clinic A");
  EXPECT_EQ(institution("1.3"), "");
  EXPECT_EQ(institution("1.4"), "Main Hospital");
  EXPECT_EQ(institution("1.5"), "Clinic B");

  // A later image of the study from an AE of no institution, from the hospital that reads for
  // the clinic, or one of dxhub's own derived images (no attribution), neither moves it nor
  // gives its patient another issuer.
  const int64_t patients = ix_->Counts(dxhub::store::Scope::Everything()).value().patients;
  InstanceRecord later = testing::Image("1.2", "1.2.1.2", 2000, {});
  later.info.patient_id = "P1";
  later.attribution = {0, "WORKSTATION", ""};
  ASSERT_TRUE(ix_->PutInstance(later).ok());
  InstanceRecord from_hospital = testing::Image("1.2", "1.2.1.3", 2000, {});
  from_hospital.info.patient_id = "P1";
  from_hospital.attribution = {0, "HOSP_PACS", ""};
  ASSERT_TRUE(ix_->PutInstance(from_hospital).ok());
  // Another clinic may not write into it, however it learnt the UID.
  InstanceRecord intruder = testing::Image("1.2", "1.2.1.4", 2000, {});
  intruder.info.patient_id = "P1";
  intruder.attribution = {clinic_b_, "", ""};
  EXPECT_EQ(ix_->PutInstance(intruder).error().code, ErrorCode::kForbidden);
  InstanceRecord derived = testing::Image("1.2", "1.2.9.1", 3000, {});
  derived.info.series_uid = "1.2.9";
  derived.info.patient_id = "P1";
  derived.source = "processing";
  ASSERT_TRUE(ix_->PutInstance(derived).ok());
  EXPECT_EQ(institution("1.2"), "Clinic A");
  auto study = ix_->GetStudy(Scope::Everything(), "1.2").value();
  EXPECT_EQ(study->study.issuer_of_patient_id, "CLA");
  EXPECT_EQ(study->study.num_instances, 4);
  EXPECT_EQ(ix_->Counts(dxhub::store::Scope::Everything()).value().patients, patients);
}

TEST_P(InstitutionTest, TheSamePatientIdFromTwoClinicsIsTwoPatients) {
  ASSERT_TRUE(Send("2.1", "P001", "CLINIC_A", "10.0.0.5").ok());
  ASSERT_TRUE(Send("2.2", "P001", "CLINIC_B").ok());
  ASSERT_TRUE(Send("2.3", "P001", "CLINIC_B").ok());
  // An issuer the sender gives is kept: the same issuer from two senders is one patient.
  ASSERT_TRUE(Send("2.4", "P002", "CLINIC_A", "10.0.0.5", "REGION").ok());
  ASSERT_TRUE(Send("2.5", "P002", "CLINIC_B", "", "REGION").ok());
  EXPECT_EQ(ix_->Counts(dxhub::store::Scope::Everything()).value().patients, 3);
  auto a = ix_->GetStudy(Scope::Everything(), "2.1").value();
  auto b = ix_->GetStudy(Scope::Everything(), "2.2").value();
  EXPECT_EQ(a->study.issuer_of_patient_id, "CLA");
  EXPECT_EQ(b->study.issuer_of_patient_id, "CLB");
  EXPECT_EQ(ix_->GetStudy(Scope::Everything(), "2.5").value()->study.issuer_of_patient_id,
            "REGION");
}

TEST_P(InstitutionTest, EveryQueryOfPatientDataKeepsToTheScope) {
  ASSERT_TRUE(Send("3.1", "P1", "HOSP_PACS").ok());
  ASSERT_TRUE(Send("3.2", "P2", "CLINIC_A", "10.0.0.5").ok());
  ASSERT_TRUE(Send("3.3", "P3", "CLINIC_B").ok());
  ASSERT_TRUE(Send("3.4", "P4", "UNKNOWN").ok());  // attributed to none

  InstitutionStore& in = ix_->institutions();
  const Scope hospital = in.ScopeOf(hospital_).value();
  const Scope a = in.ScopeOf(clinic_a_).value();
  const Scope b = in.ScopeOf(clinic_b_).value();
  EXPECT_EQ(in.ScopeOf(0).value(), Scope::Everything());
  EXPECT_EQ(Studies(Scope::Everything()), (std::vector<std::string>{"3.1", "3.2", "3.3", "3.4"}));
  EXPECT_EQ(Studies(hospital), (std::vector<std::string>{"3.1", "3.2", "3.3"}));
  EXPECT_EQ(Studies(a), (std::vector<std::string>{"3.2"}));
  EXPECT_EQ(Studies(b), (std::vector<std::string>{"3.3"}));
  EXPECT_EQ(Studies(Scope::Of({})), (std::vector<std::string>{}));

  // Retrieval by UID at every level, and the worklist and review, see the same.
  EXPECT_TRUE(ix_->GetStudy(a, "3.2").value().has_value());
  EXPECT_FALSE(ix_->GetStudy(a, "3.3").value().has_value());
  for (Level level : {Level::kStudy, Level::kSeries, Level::kInstance}) {
    IndexQuery q{level, {{Field::kStudyUid, Filter::Kind::kExact, {"3.3"}}}, 10, 0};
    EXPECT_TRUE(ix_->Query(a, q).value().empty());
    EXPECT_EQ(ix_->Query(b, q).value().size(), 1u);
  }
  IndexQuery by_sop{Level::kInstance, {{Field::kSopUid, Filter::Kind::kExact, {"3.3.1.1"}}}, 1, 0};
  EXPECT_TRUE(ix_->Query(a, by_sop).value().empty());
  WorklistQuery wq;
  wq.now_ms = 5000;
  auto worklist = ix_->reviews().Worklist(a, wq).value();
  ASSERT_EQ(worklist.total, 1);
  EXPECT_EQ(worklist.rows.at(0).study_uid, "3.2");
  EXPECT_FALSE(ix_->reviews().Review(a, "3.3").value().has_value());
  EXPECT_TRUE(ix_->reviews().Review(b, "3.3").value().has_value());
  EXPECT_TRUE(ix_->reviews().Decisions(a, "3.3").value().empty());

  // The AI results of a study and of an image, likewise.
  InstanceRecord with_job = testing::Image("3.3", "3.3.1.2", 1000);  // queues model m
  with_job.info.patient_id = "P3";
  with_job.attribution = {0, "CLINIC_B", ""};
  ASSERT_TRUE(ix_->PutInstance(with_job).ok());
  AiStore& ai = ix_->ai();
  EXPECT_FALSE(ai.StudySummary(a, "3.3").value().has_value());
  EXPECT_EQ(ai.StudySummary(b, "3.3").value()->total, 2);
  EXPECT_TRUE(ai.StudySummaries(a, {"3.2", "3.3"}).value().size() == 1);
  EXPECT_TRUE(ai.StudyResults(a, "3.3").value().empty());
  EXPECT_EQ(ai.StudyResults(hospital, "3.3").value().size(), 1u);
  EXPECT_TRUE(ai.ImageHistory(a, "3.3.1.2").value().empty());
  EXPECT_EQ(ai.ImageHistory(b, "3.3.1.2").value().size(), 1u);

  // A DICOM node's scope follows its AE title and address.
  EXPECT_EQ(in.SenderInstitution("CLINIC_A", "10.0.0.5").value(), clinic_a_);
  EXPECT_EQ(in.SenderInstitution("CLINIC_A", "10.0.0.6").value(), 0);
  EXPECT_EQ(in.SenderInstitution("CLINIC_B", "192.168.1.1").value(), clinic_b_);
}

TEST_P(InstitutionTest, NamesAreUniqueAndListed) {
  InstitutionStore& in = ix_->institutions();
  EXPECT_EQ(in.Add({0, "Clinic A", "", {}, {}, {}, 0}, 2).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(in.Add({0, "Clinic C", "", {"main hosp"}, {}, {}, 0}, 2).error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(in.Add({0, "", "", {}, {}, {}, 0}, 2).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(in.AddReadsFor("Clinic A", "Nowhere").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(in.AddSender("Clinic B", {"CLINIC_B2", ""}).ok());
  auto list = in.List().value();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "Clinic A");
  EXPECT_EQ(list[0].senders, (std::vector<Sender>{{"CLINIC_A", "10.0.0.5"}}));
  EXPECT_EQ(list[1].senders, (std::vector<Sender>{{"CLINIC_B", ""}, {"CLINIC_B2", ""}}));
  EXPECT_EQ(list[2].name, "Main Hospital");
  EXPECT_EQ(list[2].aliases, (std::vector<std::string>{"main hosp"}));
  EXPECT_EQ(list[2].reads_for, (std::vector<std::string>{"Clinic A", "Clinic B"}));
  auto found = in.Find("Clinic B").value();
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->issuer, "CLB");
  EXPECT_FALSE(in.Find("clinic b").value().has_value());

  // A user belongs to one institution, or (0) to the whole region.
  UserRecord u;
  u.username = "doc";
  u.role = "clinician";
  u.password_hash = "x";
  u.institution = clinic_a_;
  ASSERT_TRUE(ix_->users().CreateUser(u, 1).ok());
  auto doc = ix_->users().FindUser("doc").value();
  EXPECT_EQ(doc->institution, clinic_a_);
  EXPECT_EQ(doc->institution_name, "Clinic A");
  ASSERT_TRUE(ix_->users().SetInstitution("doc", 0).ok());
  EXPECT_EQ(ix_->users().FindUser("doc").value()->institution, 0);
  EXPECT_EQ(ix_->users().SetInstitution("nobody", clinic_a_).error().code, ErrorCode::kNotFound);
}

TEST_P(InstitutionTest, LinkedIdentitiesShowOnePersonsHistory) {
  ASSERT_TRUE(Send("4.1", "P001", "CLINIC_A", "10.0.0.5").ok());
  ASSERT_TRUE(Send("4.2", "P001", "CLINIC_B").ok());
  ASSERT_TRUE(Send("4.3", "H9", "HOSP_PACS").ok());
  ASSERT_TRUE(Send("4.4", "P002", "CLINIC_A", "10.0.0.5").ok());
  auto history = [&](const Scope& scope, const std::string& uid) {
    std::vector<std::string> uids;
    auto found = ix_->PersonHistory(scope, uid);  // kept: a loop over .value() of a temporary
    EXPECT_TRUE(found.ok()) << found.error().ToString();  // upsets g++ 12's flow analysis
    if (!found.ok())
      return uids;
    for (const auto& s : *found)
      uids.push_back(s.study_uid);
    std::sort(uids.begin(), uids.end());
    return uids;
  };
  using V = std::vector<std::string>;
  const Scope all = Scope::Everything();
  EXPECT_EQ(history(all, "4.1"), V{"4.1"});

  const PatientRef a{"P001", "CLA"}, b{"P001", "CLB"}, h{"H9", "HOSP"};
  ASSERT_TRUE(ix_->LinkPatients(a, h).ok());
  EXPECT_EQ(history(all, "4.1"), (V{"4.1", "4.3"}));
  EXPECT_EQ(history(all, "4.3"), (V{"4.1", "4.3"}));
  ASSERT_TRUE(ix_->LinkPatients(b, h).ok());  // joins the group: transitive
  EXPECT_EQ(history(all, "4.2"), (V{"4.1", "4.2", "4.3"}));
  EXPECT_EQ(history(all, "4.4"), V{"4.4"});

  // The scope holds: clinic A sees its own study only, not B's; nothing of a study it cannot see.
  InstitutionStore& in = ix_->institutions();
  EXPECT_EQ(history(in.ScopeOf(clinic_a_).value(), "4.1"), V{"4.1"});
  EXPECT_EQ(history(in.ScopeOf(clinic_a_).value(), "4.2"), V{});
  EXPECT_EQ(history(in.ScopeOf(hospital_).value(), "4.2"), (V{"4.1", "4.2", "4.3"}));

  // Unlinking a member, then the group's first member: the rest stay together, alone is alone.
  ASSERT_TRUE(ix_->UnlinkPatient(h).ok());
  EXPECT_EQ(history(all, "4.1"), (V{"4.1", "4.2"}));
  EXPECT_EQ(history(all, "4.3"), V{"4.3"});
  ASSERT_TRUE(ix_->UnlinkPatient(a).ok());
  EXPECT_EQ(history(all, "4.1"), V{"4.1"});
  EXPECT_EQ(history(all, "4.2"), V{"4.2"});
  ASSERT_TRUE(ix_->LinkPatients(a, b).ok());
  EXPECT_EQ(history(all, "4.2"), (V{"4.1", "4.2"}));

  EXPECT_EQ(ix_->LinkPatients(a, {"P001", ""}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(ix_->UnlinkPatient({"NOBODY", "CLA"}).error().code, ErrorCode::kNotFound);
}

TEST_P(InstitutionTest, ARuleLinksPatientsWhoCarryTheSameNationalId) {
  auto send = [&](const std::string& study, const std::string& pid, const std::string& aet,
                  std::vector<dicom::OtherPatientId> others) {
    InstanceRecord r = testing::Image(study, study + ".1.1", 1000, {});
    r.info.patient_id = pid;
    r.info.other_patient_ids = std::move(others);
    r.source = aet;
    r.attribution = {0, aet, "10.0.0.5"};
    return ix_->PutInstance(r);
  };
  const Scope all = Scope::Everything();
  auto history = [&](const std::string& uid) {
    std::vector<std::string> uids;
    auto found = ix_->PersonHistory(all, uid);
    EXPECT_TRUE(found.ok());
    for (const auto& s : *found)
      uids.push_back(s.study_uid);
    std::sort(uids.begin(), uids.end());
    return uids;
  };
  using V = std::vector<std::string>;
  // The same national ID at clinic A and at the hospital; another one at clinic B.
  ASSERT_TRUE(send("5.1", "P001", "CLINIC_A", {{"110101197003120011", "CN-ID"}}).ok());
  ASSERT_TRUE(send("5.2", "88231", "HOSP_PACS", {{"110101197003120011", "CN-ID"}}).ok());
  ASSERT_TRUE(send("5.3", "P001", "CLINIC_B", {{"220202198001010022", "CN-ID"}}).ok());
  EXPECT_EQ(history("5.1"), V{"5.1"});  // no rule yet: nothing links them
  // The rule links those stored already...
  EXPECT_EQ(ix_->AddLinkIssuer("CN-ID", 5).value(), 1);
  EXPECT_EQ(ix_->LinkIssuers().value(), V{"CN-ID"});
  EXPECT_EQ(history("5.1"), (V{"5.1", "5.2"}));
  EXPECT_EQ(history("5.3"), V{"5.3"});
  // ... and those to come; an identifier of another issuer links nobody.
  ASSERT_TRUE(send("5.4", "B-9", "CLINIC_B", {{"110101197003120011", "CN-ID"}}).ok());
  ASSERT_TRUE(send("5.5", "B-10", "CLINIC_B", {{"220202198001010022", "OTHER"}}).ok());
  EXPECT_EQ(history("5.4"), (V{"5.1", "5.2", "5.4"}));
  EXPECT_EQ(history("5.5"), V{"5.5"});
  EXPECT_EQ(ix_->AddLinkIssuer("CN-ID", 6).value(), 0);  // again: nothing new
  EXPECT_EQ(ix_->AddLinkIssuer("", 6).error().code, ErrorCode::kInvalidArgument);
}

DXHUB_BOTH_ENGINES(InstitutionTest);

}  // namespace
}  // namespace dxhub::store
