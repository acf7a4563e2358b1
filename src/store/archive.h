#pragma once
// The archive: blob store + index, and the one ingest path every entry point (C-STORE, import,
// later STOW) goes through. Success from Ingest() means the bytes are fsync'd in the blob store
// and the index row is committed.
//
// Ordering, and why it is crash-safe:
//   1. the dataset sits in a temp file of this process's temp area;
//   2. the file is fdatasync'd and the temp area directory fsync'd (one directory fsync serves
//      every file created before it began) on the blob store's sync threads, and hashed on a
//      hash thread, while this thread parses and validates it and checks for a duplicate;
//   3. the index row is committed: a new instance's at once, marked pending with this process's
//      temp area so that the WAL's sync overlaps the file's, then the syncs are waited for; a
//      replacement's only after the syncs (it overwrites an acknowledged row);
//   4. the temp file is renamed to its blob path; then Success. The pending marks of durable
//      files are cleared once a second.
// A crash (or power loss) before the rename reaches the disk leaves an index row whose bytes are
// still in the (now unlocked) temp area; Open() finds such files and renames those whose SHA-256
// matches their index row into place. A pending row of a dead area whose bytes are neither in
// place nor in the area never reached the disk, was never acknowledged, and is removed.
// Everything else in a dead temp area was never acknowledged and is deleted. (It assumes, as
// PostgreSQL does, a filesystem whose rename never loses both names.)

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/foreground_activity.h"
#include "core/periodic.h"
#include "core/result.h"
#include "core/thread_pool.h"
#include "dicom/instance.h"
#include "store/blob_store.h"
#include "store/key_locks.h"
#include "store/study_index.h"

namespace dxhub::store {

/// What the sender told us about the instance, checked against the dataset.
struct IngestContext {
  std::string source;                  // calling AE title, "import", "stow"
  std::string expected_sop_uid;        // from the C-STORE request; empty = don't check
  std::string expected_sop_class_uid;  // from the C-STORE request; empty = don't check
  /// Fill in blank UIDs (see dicom::ReadInstanceFile). Only for operator imports: a network
  /// sender that omits a required UID gets a failure status instead.
  bool coerce_missing_uids = false;
  /// Whom a new study is attributed to (the calling AE and address, the STOW client's
  /// institution, an import option).
  Attribution attribution = {};
};

enum class IngestKind { kStored, kReplaced, kDuplicate };

struct IngestOutcome {
  IngestKind kind = IngestKind::kStored;
  dicom::InstanceInfo info;
};

struct VerifyReport {
  int64_t indexed = 0;
  int64_t blobs = 0;
  std::vector<std::string> missing_blobs;    // SOP Instance UIDs whose blob is missing
  std::vector<std::string> corrupt_blobs;    // SOP Instance UIDs whose bytes differ (size/sha)
  std::vector<std::string> unindexed_blobs;  // blob keys no index row points to
  bool Clean() const {
    return missing_blobs.empty() && corrupt_blobs.empty() && unindexed_blobs.empty();
  }
};

class Archive {
 public:
  /// Opens the blob store and index under config.data_dir and recovers what a crashed process
  /// left half-done.
  static Result<std::unique_ptr<Archive>> Open(const Config& config, const Clock& clock);

  /// Use Open(); the tag keeps construction there while make_unique can still reach it.
  struct OpenTag {
    explicit OpenTag() = default;
  };
  Archive(OpenTag, const Config& config, const Clock& clock) : config_(config), clock_(clock) {}
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;
  ~Archive();

  std::string NewTempPath() { return blobs_->NewTempPath(); }

  /// Ingests the Part-10 file at `received_path` (from NewTempPath()); always consumes it.
  /// `contents`, when given, is the whole file as the caller holds it in memory: parsed and
  /// hashed from there, the file is not read back.
  Result<IngestOutcome> Ingest(const std::string& received_path, const IngestContext& context,
                               const std::shared_ptr<const std::string>& contents = nullptr);

  /// Copies an outside file into the temp area (as Part-10) and ingests it.
  Result<IngestOutcome> ImportFile(const std::string& path, const Attribution& attribution = {});

  /// Cross-checks index and blob store. `deep` re-hashes every blob.
  Result<VerifyReport> Verify(bool deep);

  /// Decides which AI jobs a new instance gets, in the transaction that indexes it (the AI
  /// pipeline installs it; without one no jobs are queued). Must be thread-safe. Set before
  /// instances arrive.
  using JobPlanner = std::function<std::vector<AiJobSpec>(const dicom::InstanceInfo&)>;
  /// `jobs_queued` is called after an instance that got jobs is fully in place (indexed and its
  /// blob renamed): the moment a worker can read it.
  void SetJobPlanner(JobPlanner planner, std::function<void()> jobs_queued = nullptr) {
    planner_ = std::move(planner);
    jobs_queued_ = std::move(jobs_queued);
  }

  StudyIndex& index() { return *index_; }
  /// Ingest going on in this process (background workers step aside for it).
  const ForegroundActivity& ingest_activity() const { return ingest_activity_; }
  /// Instances stored or replaced through this process since it started.
  int64_t ingested() const { return ingested_.load(std::memory_order_relaxed); }
  BlobStore& blobs() { return *blobs_; }

  struct RecoveryStats {
    int committed = 0;       // acknowledged-but-not-renamed files put in place
    int discarded = 0;       // unacknowledged temp files deleted
    int unacknowledged = 0;  // rows removed: indexed, but their bytes never reached the disk
  };
  /// What recovery has done since Open(), at start-up and in the sweeps since.
  RecoveryStats recovery() const {
    const std::lock_guard lock(recover_mu_);
    return recovery_;
  }

  /// Settles what dead processes left in the blob store's temp areas: places their acknowledged
  /// files, deletes the rest, and resolves the rows they committed before their sync finished
  /// (archive.h, top). Open() runs it, and then every job lease (Config::job_lease_s), so that
  /// a node that dies does not leave rows whose bytes no node can serve until a node starts.
  /// Areas of live processes, and areas another process is recovering, are left alone.
  Status RecoverDeadAreas();

 private:
  /// Checks the pending rows of dead temp areas against their blobs: clears those whose bytes
  /// are in place (adding their keys to `confirmed_keys`) and removes the others.
  Status ResolvePendingRows(std::vector<std::string>& confirmed_keys, RecoveryStats& done);
  /// SHA-256 of `contents` if given, else of the file at `path`, on a hash thread.
  std::future<Result<std::string>> HashInBackground(const std::string& path,
                                                    std::shared_ptr<const std::string> contents);
  /// SHA-256 of the blob in place for `key`; empty if there is none.
  Result<std::string> PlacedBlobSha(const std::string& key) const;
  /// Clears the pending mark of the rows whose blobs this process has made durable since.
  Status ClearDurablePending();

  Config config_;
  const Clock& clock_;
  mutable std::mutex recover_mu_;  // one recovery at a time; guards recovery_
  BlobStorePtr blobs_;
  KeyLocksPtr key_locks_;
  StudyIndexPtr index_;
  RecoveryStats recovery_;  // guarded by recover_mu_
  JobPlanner planner_;
  std::function<void()> jobs_queued_;
  std::atomic<int64_t> ingested_{0};
  ForegroundActivity ingest_activity_;
  // Hashes run beside the parse, so that at one association they cost no latency.
  std::unique_ptr<ThreadPool> hash_pool_;
  std::mutex pending_mu_;
  std::vector<std::string> durable_pending_;  // guarded by pending_mu_: SOP UIDs to clear
  std::unique_ptr<Periodic> pending_clearer_;
  std::unique_ptr<Periodic> dead_area_sweeper_;
};

/// The blob key for an instance: SHA-256 of its (validated) SOP Instance UID.
std::string BlobKeyFor(const std::string& sop_uid);

}  // namespace dxhub::store
