#include "store/archive.h"

#include <gtest/gtest.h>
#include <sys/file.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../test_util.h"
#include "core/fs.h"
#include "core/hash.h"

namespace dxhub::store {
namespace {

using dxhub::testing::ScratchDir;
using dxhub::testing::SyntheticInstance;
using dxhub::testing::WriteSynthetic;
namespace stdfs = std::filesystem;

class ArchiveTest : public ::testing::Test {
 protected:
  std::unique_ptr<Archive> Open(DuplicatePolicy policy = DuplicatePolicy::kKeepFirst) {
    Config config;
    config.data_dir = data_.path();
    config.duplicates = policy;
    auto a = Archive::Open(config, clock_);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return a.ok() ? std::move(a.value()) : nullptr;
  }
  // The index row of the instance in `file`, as Ingest would write it.
  static InstanceRecord RecordOf(const std::string& file, const std::string& pending_area = "") {
    InstanceRecord record;
    record.info = dicom::ReadInstanceFile(file).value();
    record.blob_key = BlobKeyFor(record.info.sop_uid);
    record.size = fs::FileSize(file).value();
    record.sha256 = Sha256File(file).value();
    record.source = "CT1";
    record.pending_area = pending_area;
    return record;
  }
  // Index rows still marked pending (committed before their file's sync finished), or -1.
  static int PendingRows(Archive& archive) {
    int pending = 0;
    Status st = archive.index().ForEachPending(
        [&](const std::string&, const StoredInstance&) { ++pending; });
    return st.ok() ? pending : -1;
  }
  // Files left anywhere under DATA/tmp except lock files.
  int TempFiles() {
    int n = 0;
    for (const auto& e : stdfs::recursive_directory_iterator(data_ / "tmp")) {
      if (e.is_regular_file() && e.path().filename() != ".lock")
        ++n;
    }
    return n;
  }
  ScratchDir data_;
  ScratchDir inputs_;
  SystemClock clock_;
};

TEST_F(ArchiveTest, ImportStoresBlobUnderHashPathAndIndexes) {
  auto archive = Open();
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, inputs_ / "a.dcm"));
  auto outcome = archive->ImportFile(inputs_ / "a.dcm");
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome->kind, IngestKind::kStored);
  std::string key = BlobKeyFor(s.sop_uid);
  EXPECT_EQ(key, Sha256Hex(s.sop_uid));
  EXPECT_TRUE(archive->blobs().Contains(key));
  EXPECT_EQ(fs::ReadFile(archive->blobs().PathOf(key)).value(),
            fs::ReadFile(inputs_ / "a.dcm").value());
  auto row = archive->index().FindInstance(s.sop_uid).value();
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->sha256, Sha256File(inputs_ / "a.dcm").value());
  EXPECT_EQ(TempFiles(), 0);
  EXPECT_TRUE(archive->Verify(true).value().Clean());
}

TEST_F(ArchiveTest, DuplicateKeepFirstIgnoresNewBytes) {
  auto archive = Open(DuplicatePolicy::kKeepFirst);
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, inputs_ / "a.dcm"));
  s.fill = 7;  // same UID, different pixels
  ASSERT_TRUE(WriteSynthetic(s, inputs_ / "b.dcm"));
  ASSERT_EQ(archive->ImportFile(inputs_ / "a.dcm")->kind, IngestKind::kStored);
  ASSERT_EQ(archive->ImportFile(inputs_ / "b.dcm")->kind, IngestKind::kDuplicate);
  EXPECT_EQ(fs::ReadFile(archive->blobs().PathOf(BlobKeyFor(s.sop_uid))).value(),
            fs::ReadFile(inputs_ / "a.dcm").value());
  EXPECT_EQ(archive->index().Counts(Scope::Everything())->instances, 1);
  EXPECT_EQ(TempFiles(), 0);
}

TEST_F(ArchiveTest, DuplicateReplacePolicyReplacesBytes) {
  auto archive = Open(DuplicatePolicy::kReplace);
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, inputs_ / "a.dcm"));
  s.fill = 7;
  ASSERT_TRUE(WriteSynthetic(s, inputs_ / "b.dcm"));
  ASSERT_EQ(archive->ImportFile(inputs_ / "a.dcm")->kind, IngestKind::kStored);
  ASSERT_EQ(archive->ImportFile(inputs_ / "b.dcm")->kind, IngestKind::kReplaced);
  // Identical bytes again are a duplicate even under "replace".
  ASSERT_EQ(archive->ImportFile(inputs_ / "b.dcm")->kind, IngestKind::kDuplicate);
  EXPECT_EQ(fs::ReadFile(archive->blobs().PathOf(BlobKeyFor(s.sop_uid))).value(),
            fs::ReadFile(inputs_ / "b.dcm").value());
  EXPECT_EQ(archive->index().Counts(Scope::Everything())->instances, 1);
  EXPECT_TRUE(archive->Verify(true).value().Clean());
}

// Two processes on one data directory (serve and import, or two nodes sharing the blob
// directory) receive one SOP Instance UID with different bytes at the same moment: whichever
// commits last, the blob on disk must be the version its index row describes.
TEST_F(ArchiveTest, ConcurrentVersionsFromTwoArchivesLeaveRowAndBlobAgreeing) {
  auto first = Open(DuplicatePolicy::kReplace);
  auto second = Open(DuplicatePolicy::kReplace);  // a second "process" on the same directory
  ASSERT_TRUE(first && second);
  constexpr int kRounds = 20;
  constexpr int kVersions = 4;
  std::vector<std::string> versions;
  SyntheticInstance s;
  for (int v = 0; v < kVersions; ++v) {
    s.fill = static_cast<uint16_t>(10 + v);
    // Appended, not `"v" + ...`: g++ 12 sees a false -Wrestrict overlap in that when inlined.
    std::string name = "v";
    name += std::to_string(v);
    name += ".dcm";
    versions.push_back(inputs_ / name);
    ASSERT_TRUE(WriteSynthetic(s, versions.back()));
  }
  std::atomic<int> failures{0};
  auto send = [&](Archive& archive, int offset) {
    for (int round = 0; round < kRounds; ++round) {
      if (!archive.ImportFile(versions[(round + offset) % kVersions]).ok())
        ++failures;
    }
  };
  std::thread a([&] { send(*first, 0); });
  std::thread b([&] { send(*second, 1); });
  std::thread c([&] { send(*first, 2); });
  std::thread d([&] { send(*second, 3); });
  for (auto* t : {&a, &b, &c, &d})
    t->join();
  EXPECT_EQ(failures.load(), 0);
  auto report = first->Verify(/*deep=*/true);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->Clean()) << report->corrupt_blobs.size() << " corrupt";
  auto row = first->index().FindInstance(s.sop_uid);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->sha256, Sha256File(first->blobs().PathOf(BlobKeyFor(s.sop_uid))).value());
}

TEST_F(ArchiveTest, RejectedInputLeavesNothingBehind) {
  auto archive = Open();
  SyntheticInstance hostile;
  hostile.sop_uid = "../../etc/passwd";
  ASSERT_TRUE(WriteSynthetic(hostile, inputs_ / "h.dcm"));
  {
    std::ofstream f(inputs_ / "junk.dcm");
    f << "this is not DICOM";
  }
  SyntheticInstance good;
  good.rows = good.columns = 64;
  ASSERT_TRUE(WriteSynthetic(good, inputs_ / "full.dcm"));
  auto bytes = fs::ReadFile(inputs_ / "full.dcm").value();
  {
    std::ofstream f(inputs_ / "cut.dcm", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 100));
  }
  for (const char* name : {"h.dcm", "junk.dcm", "cut.dcm"}) {
    auto outcome = archive->ImportFile(inputs_ / name);
    EXPECT_FALSE(outcome.ok()) << name;
  }
  EXPECT_EQ(archive->index().Counts(Scope::Everything())->instances, 0);
  EXPECT_EQ(TempFiles(), 0);
  int blobs = 0;
  ASSERT_TRUE(archive->blobs().ForEachKey([&](const std::string&) { return ++blobs, true; }).ok());
  EXPECT_EQ(blobs, 0);
  EXPECT_FALSE(fs::Exists(data_ / "../etc/passwd"));
}

TEST_F(ArchiveTest, IngestChecksTheCStoreRequestUids) {
  auto archive = Open();
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, inputs_ / "a.dcm"));
  std::string temp = archive->NewTempPath();
  ASSERT_TRUE(fs::CopyFileSynced(inputs_ / "a.dcm", temp).ok());
  auto outcome = archive->Ingest(temp, IngestContext{"CT1", "1.2.3.999", ""});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kSopMismatch);
  EXPECT_EQ(outcome.error().DicomStatus(), 0xA900);
  EXPECT_FALSE(fs::Exists(temp));
}

// A crash after the index commit but before the rename: the next Open() must put the file in
// place. A crash before the index commit: the file must be discarded.
TEST_F(ArchiveTest, RecoveryFinishesAcknowledgedAndDiscardsTheRest) {
  SyntheticInstance acked;
  acked.sop_uid = "1.2.3.4.1";
  SyntheticInstance unacked;
  unacked.sop_uid = "1.2.3.4.2";
  std::string dead_area = data_ / "tmp/99999999-dead";
  {
    auto archive = Open();
    ASSERT_TRUE(fs::MakeDirs(dead_area).ok());
    std::ofstream(dead_area + "/.lock").put('x');
    ASSERT_TRUE(WriteSynthetic(acked, dead_area + "/1.part"));
    ASSERT_TRUE(WriteSynthetic(unacked, dead_area + "/2.part"));
    std::ofstream(dead_area + "/3.part") << "half a dataset";
    ASSERT_TRUE(archive->index().PutInstance(RecordOf(dead_area + "/1.part")).ok());
    EXPECT_FALSE(archive->Verify(false).value().Clean());  // indexed, blob missing
  }
  auto archive = Open();
  EXPECT_EQ(archive->recovery().committed, 1);
  EXPECT_EQ(archive->recovery().discarded, 2);
  EXPECT_FALSE(fs::Exists(dead_area));
  EXPECT_TRUE(archive->blobs().Contains(BlobKeyFor(acked.sop_uid)));
  EXPECT_FALSE(archive->blobs().Contains(BlobKeyFor(unacked.sop_uid)));
  auto report = archive->Verify(true).value();
  EXPECT_TRUE(report.Clean());
  EXPECT_EQ(report.indexed, 1);
}

// A new instance commits while its file is still being synced (marked pending in its temp area).
// If the process and its sync die, the row stays only if the bytes reached the disk.
TEST_F(ArchiveTest, RecoveryResolvesRowsCommittedBeforeTheirSyncFinished) {
  SyntheticInstance lost, in_temp, placed, other_study;
  lost.sop_uid = "1.2.3.5.1";
  lost.study_uid = "1.2.3.5.100";
  lost.series_uid = "1.2.3.5.101";
  in_temp.sop_uid = "1.2.3.5.2";
  placed.sop_uid = "1.2.3.5.3";
  other_study.sop_uid = "1.2.3.5.4";
  const std::string dead_area = data_ / "tmp/99999998-dead";
  {
    auto archive = Open();
    ASSERT_TRUE(fs::MakeDirs(dead_area).ok());
    std::ofstream(dead_area + "/.lock").put('x');
    auto index_pending = [&](const std::string& file) {
      InstanceRecord record = RecordOf(file, "99999998-dead");
      record.ai_jobs = {AiJobSpec{"m", "1"}};
      ASSERT_TRUE(archive->index().PutInstance(record).ok());
    };
    // Its bytes never reached the disk: after the crash the file is empty.
    ASSERT_TRUE(WriteSynthetic(lost, inputs_ / "lost.dcm"));
    index_pending(inputs_ / "lost.dcm");
    std::ofstream(dead_area + "/1.part").flush();
    // Synced, not yet renamed.
    ASSERT_TRUE(WriteSynthetic(in_temp, dead_area + "/2.part"));
    index_pending(dead_area + "/2.part");
    // Synced and renamed, mark not yet cleared.
    ASSERT_TRUE(WriteSynthetic(placed, inputs_ / "placed.dcm"));
    index_pending(inputs_ / "placed.dcm");
    ASSERT_TRUE(fs::CopyFileSynced(inputs_ / "placed.dcm",
                                   archive->blobs().PathOf(BlobKeyFor(placed.sop_uid)))
                    .ok());
    // A row of this (live) process is not another's to judge.
    ASSERT_TRUE(WriteSynthetic(other_study, inputs_ / "live.dcm"));
    InstanceRecord live = RecordOf(inputs_ / "live.dcm", archive->blobs().TempAreaName());
    live.sha256 = std::string(64, '0');  // no blob has it
    ASSERT_TRUE(archive->index().PutInstance(live).ok());

    auto second = Open();  // the first is alive: only the dead area is resolved
    EXPECT_EQ(second->recovery().unacknowledged, 1);
    EXPECT_TRUE(second->index().FindInstance(other_study.sop_uid).value().has_value());
  }
  auto archive = Open();
  EXPECT_EQ(archive->recovery().unacknowledged, 1);  // the live one, now dead with sha "0"
  EXPECT_FALSE(archive->index().FindInstance(lost.sop_uid).value().has_value());
  EXPECT_FALSE(archive->index()
                   .GetStudy(dxhub::store::Scope::Everything(), lost.study_uid)
                   .value()
                   .has_value());
  EXPECT_TRUE(archive->blobs().Contains(BlobKeyFor(in_temp.sop_uid)));
  EXPECT_EQ(PendingRows(*archive), 0);
  auto report = archive->Verify(true).value();
  EXPECT_TRUE(report.Clean()) << report.missing_blobs.size() << " missing";
  EXPECT_EQ(report.indexed, 2);
}

TEST_F(ArchiveTest, IngestClearsThePendingMarkOnceDurable) {
  SyntheticInstance s;
  s.sop_uid = "1.2.3.6.1";
  {
    auto archive = Open();
    ASSERT_TRUE(WriteSynthetic(s, inputs_ / "a.dcm"));
    ASSERT_TRUE(archive->ImportFile(inputs_ / "a.dcm").ok());
  }  // closing clears what the periodic duty has not
  auto archive = Open();
  EXPECT_EQ(PendingRows(*archive), 0);
  EXPECT_EQ(archive->recovery().unacknowledged, 0);
  EXPECT_TRUE(archive->Verify(true).value().Clean());
}

// Two nodes starting at once must not both recover one dead area (one of them would fail on
// the files the other already placed).
TEST_F(ArchiveTest, ADeadAreaIsRecoveredByOneProcessAtATime) {
  SyntheticInstance s;
  s.sop_uid = "1.2.3.7.1";
  const std::string dead_area = data_ / "tmp/99999997-dead";
  auto first = Open();
  ASSERT_TRUE(fs::MakeDirs(dead_area).ok());
  std::ofstream(dead_area + "/.lock").put('x');
  ASSERT_TRUE(WriteSynthetic(s, dead_area + "/1.part"));
  ASSERT_TRUE(first->index().PutInstance(RecordOf(dead_area + "/1.part", "99999997-dead")).ok());

  // `first` stands for a node in the middle of recovering the area.
  ASSERT_EQ(first->blobs().AbandonedTempFiles().size(), 1u);
  EXPECT_FALSE(first->blobs().TempAreaInPlay("99999997-dead"));
  {
    auto second = Open();
    EXPECT_EQ(second->recovery().committed, 0);
    EXPECT_EQ(second->recovery().unacknowledged, 0);  // its row is not second's to judge
    EXPECT_TRUE(second->blobs().TempAreaInPlay("99999997-dead"));
    EXPECT_TRUE(fs::Exists(dead_area + "/1.part"));
  }
  first.reset();  // gave up without finishing: the claim goes with it
  auto third = Open();
  EXPECT_EQ(third->recovery().committed, 1);
  EXPECT_TRUE(third->Verify(true).value().Clean());
}

// A node that dies mid-ingest leaves rows committed before their sync finished. A live node
// settles them within a job lease, not only when some node next starts.
TEST_F(ArchiveTest, ALiveNodeSettlesADeadNodesAreaWithinALease) {
  Config config;
  config.data_dir = data_.path();
  config.job_lease_s = 1;
  auto live = Archive::Open(config, clock_).value();
  SyntheticInstance lost, synced;
  lost.sop_uid = "1.2.3.8.1";
  lost.study_uid = "1.2.3.8.100";
  lost.series_uid = "1.2.3.8.101";
  synced.sop_uid = "1.2.3.8.2";
  const std::string dead_area = data_ / "tmp/99999996-dead";
  ASSERT_TRUE(fs::MakeDirs(dead_area).ok());
  std::ofstream(dead_area + "/.lock").put('x');
  ASSERT_TRUE(WriteSynthetic(lost, inputs_ / "lost.dcm"));
  ASSERT_TRUE(live->index().PutInstance(RecordOf(inputs_ / "lost.dcm", "99999996-dead")).ok());
  ASSERT_TRUE(WriteSynthetic(synced, dead_area + "/1.part"));
  ASSERT_TRUE(live->index().PutInstance(RecordOf(dead_area + "/1.part", "99999996-dead")).ok());

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (fs::Exists(dead_area) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(fs::Exists(dead_area));
  const auto stats = live->recovery();
  EXPECT_EQ(stats.committed, 1);
  EXPECT_EQ(stats.unacknowledged, 1);
  EXPECT_FALSE(live->index().FindInstance(lost.sop_uid).value().has_value());
  EXPECT_FALSE(live->index()
                   .GetStudy(dxhub::store::Scope::Everything(), lost.study_uid)
                   .value()
                   .has_value());
  EXPECT_TRUE(live->blobs().Contains(BlobKeyFor(synced.sop_uid)));
  EXPECT_EQ(PendingRows(*live), 0);
  EXPECT_TRUE(live->Verify(true).value().Clean());
}

// Rows of an area that died after a recovery claimed the dead areas wait for the next one: its
// files, not yet placed, may be their bytes.
TEST_F(ArchiveTest, OnlyClaimedOrVanishedAreasHaveTheirRowsSettled) {
  auto archive = Open();
  EXPECT_TRUE(archive->blobs().AbandonedTempFiles().empty());
  const std::string late = data_ / "tmp/99999995-late";
  ASSERT_TRUE(fs::MakeDirs(late).ok());
  std::ofstream(late + "/.lock").put('x');
  EXPECT_TRUE(archive->blobs().TempAreaInPlay("99999995-late"));  // died after the claim
  EXPECT_EQ(archive->blobs().AbandonedTempFiles().size(), 0u);    // empty, but now claimed
  EXPECT_FALSE(archive->blobs().TempAreaInPlay("99999995-late"));
  archive->blobs().RemoveAbandonedAreas();
  EXPECT_FALSE(fs::Exists(late));
  EXPECT_FALSE(archive->blobs().TempAreaInPlay("99999995-late"));  // gone
  EXPECT_TRUE(archive->blobs().TempAreaInPlay(archive->blobs().TempAreaName()));
}

// A process creates its area, then its lock: an area without a lock is a new one for a minute,
// after that a dead one.
TEST_F(ArchiveTest, ANewAreaIsNotTakenBeforeItsOwnerLocksIt) {
  const std::string young = data_ / "tmp/99999994-young";
  ASSERT_TRUE(fs::MakeDirs(young).ok());
  auto archive = Open();
  EXPECT_TRUE(fs::Exists(young));
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(2);
  std::filesystem::last_write_time(young, old);
  ASSERT_TRUE(archive->RecoverDeadAreas().ok());
  EXPECT_FALSE(fs::Exists(young));
}

TEST_F(ArchiveTest, RecoveryLeavesLiveProcessesAlone) {
  auto first = Open();
  std::string temp = first->NewTempPath();
  SyntheticInstance s;
  ASSERT_TRUE(WriteSynthetic(s, temp));  // in flight in "another process"
  auto second = Open();
  EXPECT_EQ(second->recovery().discarded, 0);
  EXPECT_TRUE(fs::Exists(temp));
}

TEST_F(ArchiveTest, VerifyReportsEachKindOfDifference) {
  auto archive = Open();
  SyntheticInstance a, b;
  b.sop_uid = "1.2.3.5";
  ASSERT_TRUE(WriteSynthetic(a, inputs_ / "a.dcm"));
  ASSERT_TRUE(WriteSynthetic(b, inputs_ / "b.dcm"));
  ASSERT_TRUE(archive->ImportFile(inputs_ / "a.dcm").ok());
  ASSERT_TRUE(archive->ImportFile(inputs_ / "b.dcm").ok());
  fs::RemoveQuiet(archive->blobs().PathOf(BlobKeyFor(a.sop_uid)));
  {
    std::ofstream f(archive->blobs().PathOf(BlobKeyFor(b.sop_uid)), std::ios::app);
    f << "x";
  }
  std::string stray = Sha256Hex("stray");
  ASSERT_TRUE(fs::MakeDirs(stdfs::path(archive->blobs().PathOf(stray)).parent_path()).ok());
  std::ofstream(archive->blobs().PathOf(stray)) << "x";
  auto report = archive->Verify(false).value();
  EXPECT_EQ(report.missing_blobs, (std::vector<std::string>{a.sop_uid}));
  EXPECT_EQ(report.corrupt_blobs, (std::vector<std::string>{b.sop_uid}));
  EXPECT_EQ(report.unindexed_blobs, (std::vector<std::string>{stray}));
}

}  // namespace
}  // namespace dxhub::store
