#include "store/blob_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <random>
#include <utility>

#include "core/fs.h"
#include "core/sync_queue.h"

namespace dxhub::store {
namespace {

namespace stdfs = std::filesystem;

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd()) & 0xFF;
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(std::string root) : root_(std::move(root)) {}
  ~FileBlobStore() override {
    ReleaseClaims();
    sync_.reset();  // finish in-flight syncs before the area goes
    if (lock_fd_ >= 0) {
      std::error_code ec;
      stdfs::remove_all(temp_dir_, ec);  // only our own, now-empty-or-stale area
      ::close(lock_fd_);
    }
  }
  FileBlobStore(const FileBlobStore&) = delete;
  FileBlobStore& operator=(const FileBlobStore&) = delete;

  Status Init() {
    DXHUB_TRY(fs::MakeDirs(root_ + "/blobs"));
    DXHUB_TRY(CreateFanOut());
    DXHUB_TRY(fs::MakeDirs(root_ + "/tmp"));
    // Another process recovering dead areas may take a new area in the instant between its
    // mkdir and its flock (it looks dead then) and delete it: start again with a new one.
    for (int attempt = 0;; ++attempt) {
      temp_dir_ = root_ + "/tmp/" + std::to_string(::getpid()) + "-" + RandomHex(4);
      DXHUB_TRY(fs::MakeDirs(temp_dir_));
      const std::string lock = temp_dir_ + "/.lock";
      lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
      if (lock_fd_ < 0 && errno == ENOENT && attempt < kAreaAttempts)
        continue;
      if (lock_fd_ < 0)
        return fs::ErrnoError(errno, "create temp area lock");
      if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0 && SameFile(lock_fd_, lock))
        break;
      const int err = errno;
      ::close(lock_fd_);
      lock_fd_ = -1;
      if (attempt >= kAreaAttempts)
        return fs::ErrnoError(err == 0 ? EAGAIN : err, "lock temp area " + temp_dir_);
    }
    sync_ = std::make_unique<SyncQueue>(temp_dir_, kSyncThreads);
    return Ok();
  }

  std::string NewTempPath() override {
    return temp_dir_ + "/" + std::to_string(counter_.fetch_add(1)) + ".part";
  }

  std::string PathOf(const std::string& key) const override {
    return root_ + "/blobs/" + key.substr(0, 3) + "/" + key;
  }

  Status Commit(const std::string& temp_path, const std::string& key) override {
    if (!IsBlobKey(key))
      return MakeError(ErrorCode::kInternal, "bad blob key");
    if (::rename(temp_path.c_str(), PathOf(key).c_str()) != 0) {
      return fs::ErrnoError(errno, "rename to blob " + key);
    }
    return Ok();
  }

  PendingSync MakeDurable(const std::string& temp_path) override { return sync_->Sync(temp_path); }

  Status SyncDirectoryOf(const std::string& key) override {
    if (!IsBlobKey(key))
      return MakeError(ErrorCode::kInternal, "bad blob key");
    return fs::SyncPath(root_ + "/blobs/" + key.substr(0, 3));
  }

  bool Contains(const std::string& key) const override {
    return IsBlobKey(key) && fs::Exists(PathOf(key));
  }

  Status ForEachKey(const std::function<bool(const std::string&)>& fn) const override {
    std::error_code ec;
    stdfs::recursive_directory_iterator it(root_ + "/blobs", ec), end;
    if (ec)
      return MakeError(ErrorCode::kIo, "list blobs: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec)
        return MakeError(ErrorCode::kIo, "list blobs: " + ec.message());
      if (!it->is_regular_file())
        continue;
      if (!fn(it->path().filename().string()))
        break;
    }
    return Ok();
  }

  std::vector<std::string> AbandonedTempFiles() override {
    std::vector<std::string> files;
    abandoned_.clear();
    ReleaseClaims();
    std::error_code ec;
    for (const auto& area : stdfs::directory_iterator(root_ + "/tmp", ec)) {
      if (!area.is_directory() || area.path().string() == temp_dir_)
        continue;
      // Claimed, not just probed: a node starting at the same moment sees the area in use and
      // leaves it to us, instead of both placing (and one failing on) the same files.
      const int fd = ::open((area.path().string() + "/.lock").c_str(), O_RDWR | O_CLOEXEC);
      if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        continue;  // its owner is alive, or another process is recovering it
      }
      if (fd < 0 && Younger(area.path().string(), kNewAreaGrace))
        continue;  // just made: its owner has yet to create the lock (older versions don't retry)
      abandoned_.push_back(area.path().string());
      claimed_.emplace_back(area.path().filename().string(), fd);
      for (const auto& f : stdfs::directory_iterator(area.path(), ec)) {
        if (f.is_regular_file() && f.path().filename() != ".lock") {
          files.push_back(f.path().string());
        }
      }
    }
    return files;
  }

  std::string TempAreaName() const override { return stdfs::path(temp_dir_).filename().string(); }

  bool TempAreaInPlay(const std::string& name) const override {
    if (name == TempAreaName())
      return true;
    for (const auto& claim : claimed_) {
      if (claim.first == name)
        return false;  // dead, and ours to settle while we hold its lock
    }
    // The name comes from the index, not from a sender, but it still only names a folder of tmp/.
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
      return false;
    std::error_code ec;
    return stdfs::exists(root_ + "/tmp/" + name, ec) || ec;
  }

  void RemoveAbandonedAreas() override {
    std::error_code ec;
    for (const auto& dir : abandoned_)
      stdfs::remove_all(dir, ec);
    abandoned_.clear();
    ReleaseClaims();
  }

 private:
  Status CreateFanOut() {
    static constexpr char kHex[] = "0123456789abcdef";
    const std::string blobs = root_ + "/blobs/";
    if (fs::Exists(blobs + "fff"))
      return Ok();  // created last: all are there
    for (int i = 0; i < 4096; ++i) {
      std::string dir = blobs + kHex[(i >> 8) & 0xF] + kHex[(i >> 4) & 0xF] + kHex[i & 0xF];
      if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
        return fs::ErrnoError(errno, "mkdir " + dir);
      }
    }
    return fs::SyncPath(blobs);
  }

  // Whether `fd` is still the file at `path` (not one that was deleted, or replaced, under it).
  static bool SameFile(int fd, const std::string& path) {
    struct stat by_fd {};
    struct stat by_path {};
    return ::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 &&
           by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
  }
  static bool Younger(const std::string& path, std::chrono::seconds age) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      return false;
    return std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime) <
           age;
  }
  static constexpr int kAreaAttempts = 5;
  static constexpr std::chrono::seconds kNewAreaGrace{60};

  std::string root_;
  std::string temp_dir_;
  // As many file syncs in flight as associations that commonly arrive at once; more queue.
  static constexpr size_t kSyncThreads = 8;
  std::unique_ptr<SyncQueue> sync_;
  int lock_fd_ = -1;
  std::atomic<uint64_t> counter_{0};
  void ReleaseClaims() {
    for (const auto& claim : claimed_) {
      if (claim.second >= 0)
        ::close(claim.second);
    }
    claimed_.clear();
  }

  std::vector<std::string> abandoned_;
  // Dead areas being recovered, by name, with the descriptor holding their lock (-1: an area
  // without a lock file).
  std::vector<std::pair<std::string, int>> claimed_;
};

}  // namespace

bool IsBlobKey(const std::string& key) {
  if (key.size() != 64)
    return false;
  for (char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  }
  return true;
}

bool TempAreaInUse(const std::string& area_dir) {
  const int fd = ::open((area_dir + "/.lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);  // releases the probe's lock, if it got one
  return held;
}

bool BlobStoreInUse(const std::string& root) {
  std::error_code ec;
  for (const auto& area : stdfs::directory_iterator(root + "/tmp", ec)) {
    if (area.is_directory() && TempAreaInUse(area.path().string()))
      return true;
  }
  return false;
}

Result<BlobStorePtr> OpenFileBlobStore(const std::string& root) {
  auto store = std::make_unique<FileBlobStore>(root);
  DXHUB_TRY(store->Init());
  return BlobStorePtr(std::move(store));
}

}  // namespace dxhub::store
