#pragma once
// Where instance bytes live. Keys are hex SHA-256 digests computed by the archive, never caller
// text, so a hostile UID cannot name a path. Files are written to a per-process temp area on the
// same filesystem and renamed into place once fsync'd.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/sync_queue.h"

namespace dxhub::store {

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  /// A fresh temp path inside this process's temp area (same filesystem as the blobs).
  virtual std::string NewTempPath() = 0;
  /// Where the blob for `key` lives (whether or not it exists yet).
  virtual std::string PathOf(const std::string& key) const = 0;
  /// Atomically renames `temp_path` (made durable by MakeDurable()) to the blob of `key`,
  /// replacing any old one. The rename itself is not fsync'd: until the blob directory reaches
  /// the disk, the bytes are still reachable under their temp name, and recovery finishes the
  /// rename (see archive.h).
  virtual Status Commit(const std::string& temp_path, const std::string& key) = 0;
  /// Starts making the temp file `temp_path` durable, bytes and name, in the background (its
  /// fdatasync, and an fsync of the temp area shared with every file created before it), so
  /// that the caller can parse and hash meanwhile. Wait() on it before the index row commits.
  virtual PendingSync MakeDurable(const std::string& temp_path) = 0;
  /// fsyncs the directory that holds the blob of `key`, making a Commit() of it durable.
  /// Recovery calls it before it deletes the temp area the bytes came from.
  virtual Status SyncDirectoryOf(const std::string& key) = 0;
  virtual bool Contains(const std::string& key) const = 0;
  /// Calls `fn` with every blob key present (for verify). Stops early if `fn` returns false.
  virtual Status ForEachKey(const std::function<bool(const std::string&)>& fn) const = 0;
  /// Temp files left behind by processes that died (their temp areas are no longer locked).
  /// Their areas are locked by this process until RemoveAbandonedAreas() (or the store's end),
  /// so another process recovering at the same time leaves them alone. The caller decides for
  /// each file whether to Commit or delete it; RemoveAbandonedAreas() then removes the areas.
  virtual std::vector<std::string> AbandonedTempFiles() = 0;
  virtual void RemoveAbandonedAreas() = 0;
  /// This process's temp area, by the name an index row's pending_area records.
  virtual std::string TempAreaName() const = 0;
  /// Whether the temp area called `name` may still hold files that someone will place: this
  /// process's own, and any area that still exists but that the last AbandonedTempFiles() did
  /// not claim (a live process's, one another process is recovering, or one whose owner died
  /// since, left to the next recovery). False for an area claimed by the last
  /// AbandonedTempFiles(), for one that is gone, and for a name that is not an area's.
  virtual bool TempAreaInPlay(const std::string& name) const = 0;
};

using BlobStorePtr = std::unique_ptr<BlobStore>;

/// Opens a filesystem blob store rooted at `root` (created if missing): blobs under
/// root/blobs/abc/<key> (4096 directories, created up front so ingest never pays a mkdir and a
/// parent fsync; at 100 million instances that is ~25,000 files a directory, which ext4 and XFS
/// index well), temp areas under root/tmp/<pid>-<nonce>/, each held by an flock so
/// that concurrent dxhub processes (serve + import) never touch each other's in-flight files.
Result<BlobStorePtr> OpenFileBlobStore(const std::string& root);

/// Whether a live process holds the temp area `area_dir` (its .lock is flocked). A probe: it
/// takes no lock that outlives the call.
bool TempAreaInUse(const std::string& area_dir);

/// Whether any process (dxhub serve, import, another command) is using the blob store rooted
/// at `root`, told by the locks on its temp areas.
bool BlobStoreInUse(const std::string& root);

/// True for a well-formed blob key (64 lower-case hex digits).
bool IsBlobKey(const std::string& key);

}  // namespace dxhub::store
