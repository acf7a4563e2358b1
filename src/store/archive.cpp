#include "store/archive.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <functional>
#include <map>
#include <unordered_set>

#include "core/fs.h"
#include "core/hash.h"

namespace dxhub::store {

namespace {
constexpr size_t kHashThreads = 2;
}  // namespace

std::string BlobKeyFor(const std::string& sop_uid) {
  return Sha256Hex(sop_uid);
}

Result<std::unique_ptr<Archive>> Archive::Open(const Config& config, const Clock& clock) {
  auto archive = std::make_unique<Archive>(OpenTag{}, config, clock);
  DXHUB_TRY(fs::MakeDirs(config.data_dir));
  // Patient data and password hashes: for dxhub's own user only. The process umask (set in
  // main) covers what it creates; this covers a data dir made by an older version or by hand.
  if (::chmod(config.data_dir.c_str(), 0700) != 0)
    return fs::ErrnoError(errno, "chmod 0700 " + config.data_dir);
  auto blobs = OpenFileBlobStore(config.data_dir);
  if (!blobs.ok())
    return blobs.error();
  archive->blobs_ = std::move(blobs.value());
  auto locks = KeyLocks::Open(config.data_dir + "/locks");
  if (!locks.ok())
    return locks.error();
  archive->key_locks_ = std::move(locks.value());
  const bool postgres = sql::IsPostgresUrl(config.index);
  if (!postgres && !config.index.empty() && config.index != "sqlite") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "index '" + config.index +
                         "': use sqlite (the default, DATA/index.sqlite) or postgresql://...");
  }
  const JobLease lease{config.node_name.empty() ? "local" : config.node_name,
                       int64_t{config.job_lease_s} * 1000};
  auto index = postgres ? OpenPostgresIndex(sql::PostgresOptions{config.index, config.db_pool_size,
                                                                 "dxhub " + config.node_name},
                                            lease)
                        : OpenSqliteIndex(config.IndexPath(), lease);
  if (!index.ok())
    return index.error();
  archive->index_ = std::move(index.value());
  if (!postgres) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string file = config.IndexPath() + suffix;
      (void)::chmod(file.c_str(), 0600);  // -wal/-shm may not exist yet
    }
  }
  DXHUB_TRY(archive->RecoverDeadAreas());
  archive->hash_pool_ = std::make_unique<ThreadPool>(kHashThreads, 256, "blob-hash");
  // Often enough that recovery after a crash checks at most a second's worth of rows.
  archive->pending_clearer_ =
      std::make_unique<Periodic>(std::chrono::seconds(1), [a = archive.get()] {
        Status st = a->ClearDurablePending();
        if (!st.ok())
          spdlog::warn("archive: clearing pending marks failed (retried): {}", st.error().message);
      });
  archive->pending_clearer_->Start();
  archive->dead_area_sweeper_ = std::make_unique<Periodic>(
      std::chrono::seconds(std::max(1, config.job_lease_s)), [a = archive.get()] {
        Status st = a->RecoverDeadAreas();
        if (!st.ok())
          spdlog::warn("archive: recovering dead temp areas failed (retried): {}",
                       st.error().message);
      });
  archive->dead_area_sweeper_->Start();
  return archive;
}

Archive::~Archive() {
  if (dead_area_sweeper_)
    dead_area_sweeper_->Stop();
  if (pending_clearer_) {
    pending_clearer_->Stop();
    (void)ClearDurablePending();  // what is left is checked by the next recovery
  }
}

Result<IngestOutcome> Archive::Ingest(const std::string& received_path, const IngestContext& ctx,
                                      const std::shared_ptr<const std::string>& contents) {
  const ForegroundActivity::Scope foreground(ingest_activity_);
  // Whatever happens below, the temp file must not outlive this call unless it was committed.
  struct TempGuard {
    std::string path;
    bool keep = false;
    ~TempGuard() {
      if (!keep)
        fs::RemoveQuiet(path);
    }
  } guard{received_path};
  // The fsyncs and the hash run while the dataset is parsed; what needs them waits below.
  PendingSync durable = blobs_->MakeDurable(guard.path);
  std::future<Result<std::string>> sha = HashInBackground(guard.path, contents);

  auto info = dicom::ReadInstance(guard.path, contents ? std::string_view(*contents) : "",
                                  ctx.coerce_missing_uids);
  if (!info.ok())
    return info.error();
  if (!ctx.expected_sop_uid.empty() && ctx.expected_sop_uid != info->sop_uid) {
    return MakeError(ErrorCode::kSopMismatch,
                     "SOPInstanceUID in dataset differs from the C-STORE request");
  }
  if (!ctx.expected_sop_class_uid.empty() && ctx.expected_sop_class_uid != info->sop_class_uid) {
    return MakeError(ErrorCode::kSopMismatch,
                     "SOPClassUID in dataset differs from the C-STORE request");
  }
  if (!info->coerced.empty()) {
    // Store what we index: the archived copy carries the UIDs the index and DICOMweb expose.
    std::string coerced_path = NewTempPath();
    Status written = dicom::WriteCoerced(guard.path, *info, coerced_path);
    fs::RemoveQuiet(guard.path);
    guard.path = coerced_path;
    DXHUB_TRY(written);
    durable = blobs_->MakeDurable(guard.path);
    sha = HashInBackground(guard.path, nullptr);
    spdlog::debug("archive: {} arrived without {}; filled in", info->sop_uid,
                  fmt::join(info->coerced, ", "));
  }
  const std::string& temp_path = guard.path;
  auto size = fs::FileSize(temp_path);
  if (!size.ok())
    return size.error();
  auto digest = sha.get();
  if (!digest.ok())
    return digest.error();

  const std::string key = BlobKeyFor(info->sop_uid);
  auto key_lock = key_locks_->Lock(key);
  if (!key_lock.ok())
    return key_lock.error();

  auto existing = index_->FindInstance(info->sop_uid);
  if (!existing.ok())
    return existing.error();
  IngestKind kind = IngestKind::kStored;
  if (existing->has_value()) {
    bool identical = (*existing)->sha256 == *digest && blobs_->Contains(key);
    if (identical || config_.duplicates == DuplicatePolicy::kKeepFirst) {
      return IngestOutcome{IngestKind::kDuplicate, std::move(info.value())};
    }
    kind = IngestKind::kReplaced;
  }

  InstanceRecord record{info.value(),       key, *size, *digest,        ctx.source,
                        clock_.NowMillis(), {},  {},    ctx.attribution};
  // dxhub's own derived images (bone-free CT, SEG, projections) are not new patient images for
  // the models to read.
  if (planner_ && info->frames > 0 && ctx.source != "processing")
    record.ai_jobs = planner_(*info);
  if (kind == IngestKind::kStored) {
    // A new instance commits while its bytes are still being synced, marked pending in this
    // process's temp area, so the two syncs overlap; if we die before the mark is cleared,
    // recovery keeps the row only if the bytes made it to the disk (archive.h).
    record.pending_area = blobs_->TempAreaName();
  } else {
    // A replacement overwrites the row of an acknowledged version: only durable bytes may.
    DXHUB_TRY(durable.Wait());
  }
  // The key lock is held throughout (another sender of this stripe waits out this sync too), so
  // that a duplicate, decided above, never waits for a sync whose file it then deletes.
  DXHUB_TRY(index_->PutInstance(record));
  // From here the instance is indexed: if we die before the rename, RecoverDeadAreas() finishes
  // it.
  guard.keep = true;
  if (!record.pending_area.empty()) {
    Status synced = durable.Wait();
    if (!synced.ok()) {
      // Never acknowledged: the row goes now, or (if that fails too) at the next recovery,
      // which finds no durable bytes for it.
      guard.keep = false;
      auto removed = index_->RemoveUnacknowledged(info->sop_uid, record.pending_area);
      if (!removed.ok()) {
        spdlog::error("archive: {} could not be synced and its row not removed: {}", info->sop_uid,
                      removed.error().message);
      }
      return synced.error();
    }
  }
  Status committed = blobs_->Commit(temp_path, key);
  if (!committed.ok()) {
    // The row points at bytes we failed to place; keep the temp file for recovery and report the
    // failure so the sender retries.
    spdlog::error("archive: indexed {} but could not place its blob: {}", info->sop_uid,
                  committed.error().message);
    return committed.error();
  }
  if (!record.pending_area.empty()) {
    const std::lock_guard lock(pending_mu_);
    durable_pending_.push_back(info->sop_uid);
  }
  if (!record.ai_jobs.empty() && jobs_queued_)
    jobs_queued_();  // only now is the blob in place for a worker to read
  ingested_.fetch_add(1, std::memory_order_relaxed);
  return IngestOutcome{kind, std::move(info.value())};
}

std::future<Result<std::string>> Archive::HashInBackground(
    const std::string& path, std::shared_ptr<const std::string> contents) {
  // The task owns what it reads: a caller that returns early does not wait for it.
  auto task = std::make_shared<std::packaged_task<Result<std::string>()>>(
      [path, contents = std::move(contents)]() -> Result<std::string> {
        if (contents)
          return Sha256Hex(*contents);
        return Sha256File(path);
      });
  auto digest = task->get_future();
  hash_pool_->Submit([task] { (*task)(); });
  return digest;
}

Status Archive::ClearDurablePending() {
  std::vector<std::string> uids;
  {
    const std::lock_guard lock(pending_mu_);
    uids.swap(durable_pending_);
  }
  Status st = index_->ClearPending(blobs_->TempAreaName(), uids);
  if (!st.ok()) {
    // Harmless meanwhile (recovery would check these rows and find their bytes); try again.
    const std::lock_guard lock(pending_mu_);
    durable_pending_.insert(durable_pending_.end(), uids.begin(), uids.end());
  }
  return st;
}

Result<IngestOutcome> Archive::ImportFile(const std::string& path, const Attribution& attribution) {
  std::string temp = NewTempPath();
  Status copied = dicom::CopyAsPart10(path, temp);
  if (!copied.ok()) {
    fs::RemoveQuiet(temp);
    return copied.error();
  }
  return Ingest(temp, IngestContext{"import", "", "", /*coerce_missing_uids=*/true, attribution});
}

Status Archive::RecoverDeadAreas() {
  const std::lock_guard lock(recover_mu_);
  RecoveryStats done;
  auto files = blobs_->AbandonedTempFiles();
  std::vector<std::string> placed_keys;
  for (const auto& file : files) {
    bool placed = false;
    // Coerced copies were rewritten before indexing, so their UIDs are in the dataset.
    auto info = dicom::ReadInstanceFile(file);
    if (info.ok()) {
      const std::string key = BlobKeyFor(info->sop_uid);
      auto key_lock = key_locks_->Lock(key);
      if (!key_lock.ok())
        return key_lock.error();
      auto row = index_->FindInstance(info->sop_uid);
      auto sha = Sha256File(file);
      if (row.ok() && row->has_value() && sha.ok() && (*row)->sha256 == *sha &&
          (*row)->blob_key == key) {
        auto current = PlacedBlobSha(key);
        if (!current.ok() || *current != *sha) {
          // A pending row's file may have died with its sync still running: complete bytes in
          // the page cache are not yet bytes on the disk.
          DXHUB_TRY(fs::DataSyncPath(file));
          DXHUB_TRY(blobs_->Commit(file, key));
          placed_keys.push_back(key);
          placed = true;
          ++done.committed;
        }
      }
    }
    if (!placed) {
      fs::RemoveQuiet(file);
      ++done.discarded;
    }
  }
  DXHUB_TRY(ResolvePendingRows(placed_keys, done));
  // The renames must be on disk before the areas go: until then the acknowledged bytes are
  // durable only under their temp names.
  for (const auto& key : placed_keys)
    DXHUB_TRY(blobs_->SyncDirectoryOf(key));
  blobs_->RemoveAbandonedAreas();
  if (done.committed + done.discarded + done.unacknowledged > 0) {
    spdlog::info(
        "archive: recovery placed {} acknowledged file(s), discarded {} partial one(s), removed "
        "{} row(s) whose bytes never reached the disk",
        done.committed, done.discarded, done.unacknowledged);
  }
  recovery_.committed += done.committed;
  recovery_.discarded += done.discarded;
  recovery_.unacknowledged += done.unacknowledged;
  return Ok();
}

Result<std::string> Archive::PlacedBlobSha(const std::string& key) const {
  return blobs_->Contains(key) ? Sha256File(blobs_->PathOf(key)) : std::string();
}

Status Archive::ResolvePendingRows(std::vector<std::string>& confirmed_keys, RecoveryStats& done) {
  std::vector<std::pair<std::string, StoredInstance>> dead;
  DXHUB_TRY(index_->ForEachPending([&](const std::string& area, const StoredInstance& row) {
    // Only areas this recovery claimed (their files were just placed or deleted) or that are
    // gone: an area that died since still holds files that may be these rows' bytes.
    if (!blobs_->TempAreaInPlay(area))
      dead.emplace_back(area, row);
  }));
  std::map<std::string, std::vector<std::string>> durable;  // by area
  for (const auto& [area, row] : dead) {
    auto key_lock = key_locks_->Lock(row.blob_key);
    if (!key_lock.ok())
      return key_lock.error();
    // Its file was renamed into place only after its sync finished, or placed (and synced)
    // by the loop before this.
    auto sha = PlacedBlobSha(row.blob_key);
    if (sha.ok() && *sha == row.sha256) {
      durable[area].push_back(row.sop_uid);
      confirmed_keys.push_back(row.blob_key);
      continue;
    }
    auto removed = index_->RemoveUnacknowledged(row.sop_uid, area);
    if (!removed.ok())
      return removed.error();
    if (*removed) {
      spdlog::warn(
          "archive: removed {}: indexed, but its bytes never reached the disk (it was "
          "never acknowledged)",
          row.sop_uid);
      ++done.unacknowledged;
    }
  }
  for (const auto& [area, uids] : durable)
    DXHUB_TRY(index_->ClearPending(area, uids));
  return Ok();
}

Result<VerifyReport> Archive::Verify(bool deep) {
  VerifyReport report;
  std::unordered_set<std::string> indexed_keys;
  Status st = index_->ForEachInstance([&](const StoredInstance& si) {
    ++report.indexed;
    indexed_keys.insert(si.blob_key);
    if (!blobs_->Contains(si.blob_key)) {
      report.missing_blobs.push_back(si.sop_uid);
      return true;
    }
    std::string path = blobs_->PathOf(si.blob_key);
    auto size = fs::FileSize(path);
    bool bad = !size.ok() || *size != si.size;
    if (!bad && deep) {
      auto sha = Sha256File(path);
      bad = !sha.ok() || *sha != si.sha256;
    }
    if (bad)
      report.corrupt_blobs.push_back(si.sop_uid);
    return true;
  });
  DXHUB_TRY(st);
  st = blobs_->ForEachKey([&](const std::string& key) {
    ++report.blobs;
    if (!indexed_keys.count(key))
      report.unindexed_blobs.push_back(key);
    return true;
  });
  DXHUB_TRY(st);
  return report;
}

}  // namespace dxhub::store
