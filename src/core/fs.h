#pragma once
// Durable file primitives. Everything the archive acknowledges goes through these, so the
// fsync/rename discipline lives in one place.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dxhub::fs {

/// Creates `dir` and its parents (mode 0750). When a directory is created its parent is fsync'd
/// so the new entry survives a crash.
Status MakeDirs(const std::string& dir);

/// fsync()s an open-able file or directory.
Status SyncPath(const std::string& path);
/// fdatasync()s the file at `path`: its bytes and what it takes to read them back (its size),
/// not its timestamps.
Status DataSyncPath(const std::string& path);

/// Writes `data` to `path` (creating/truncating, mode 0640), fsync'd when `sync`. Not atomic.
Status WriteFile(const std::string& path, std::span<const uint8_t> data, bool sync);

/// WriteFile with fsync.
inline Status WriteFileSynced(const std::string& path, std::span<const uint8_t> data) {
  return WriteFile(path, data, true);
}

/// Copies `from` to `to` (truncating) and fsyncs `to`.
Status CopyFileSynced(const std::string& from, const std::string& to);

/// rename(2) then fsync of the destination directory: after it returns the new name is durable.
Status RenameDurable(const std::string& from, const std::string& to);

/// Removes a file; a missing file is not an error.
void RemoveQuiet(const std::string& path);

/// Reads the file at `path` in 64 KiB chunks, handing each to `fn` (which may fail and stop the
/// read). With `sync` the file is then fsync'd through the same descriptor.
Status ReadChunks(const std::string& path,
                  const std::function<Status(std::span<const uint8_t>)>& fn, bool sync = false);

/// Reads a whole file into memory.
Result<std::string> ReadFile(const std::string& path);

/// Size of a regular file.
Result<uint64_t> FileSize(const std::string& path);

bool Exists(const std::string& path);

/// A read-only memory map of a whole file: large uploads are parsed in place instead of being
/// read into memory. Unmapped on destruction.
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}
  void* data_ = nullptr;
  size_t size_ = 0;
};

/// Maps an errno from a write path onto the error table (ENOSPC/EDQUOT -> kDiskFull).
Error ErrnoError(int err, const std::string& what);

}  // namespace dxhub::fs
