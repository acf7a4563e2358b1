#include "core/fs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace dxhub::fs {
namespace {

// Small RAII owner for a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes explicitly so a failing close (which can report a deferred write error) is seen.
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, const uint8_t* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return ErrnoError(errno, "write " + path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

std::string ParentOf(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

Error ErrnoError(int err, const std::string& what) {
  ErrorCode code = (err == ENOSPC || err == EDQUOT) ? ErrorCode::kDiskFull : ErrorCode::kIo;
  return MakeError(code, what + ": " + std::strerror(err));
}

namespace {
Status OpenAndSync(const std::string& path, int (*sync)(int), const char* name) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return ErrnoError(errno, "open " + path);
  if (sync(fd.get()) != 0)
    return ErrnoError(errno, std::string(name) + " " + path);
  return Ok();
}
}  // namespace

Status SyncPath(const std::string& path) {
  return OpenAndSync(path, ::fsync, "fsync");
}

Status DataSyncPath(const std::string& path) {
  return OpenAndSync(path, ::fdatasync, "fdatasync");
}

Status MakeDirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return Ok();
    return MakeError(ErrorCode::kIo, dir + " exists and is not a directory");
  }
  std::string parent = ParentOf(dir);
  if (parent != dir)
    DXHUB_TRY(MakeDirs(parent));
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return ErrnoError(errno, "mkdir " + dir);
  return SyncPath(parent);
}

Status WriteFile(const std::string& path, std::span<const uint8_t> data, bool sync) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (fd.get() < 0)
    return ErrnoError(errno, "create " + path);
  DXHUB_TRY(WriteAll(fd.get(), data.data(), data.size(), path));
  if (sync && ::fsync(fd.get()) != 0)
    return ErrnoError(errno, "fsync " + path);
  if (fd.Close() != 0)
    return ErrnoError(errno, "close " + path);
  return Ok();
}

Status ReadChunks(const std::string& path,
                  const std::function<Status(std::span<const uint8_t>)>& fn, bool sync) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return ErrnoError(errno, "open " + path);
  std::array<uint8_t, 1 << 16> buf{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return ErrnoError(errno, "read " + path);
    }
    if (n == 0)
      break;
    DXHUB_TRY(fn(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n))));
  }
  if (sync && ::fsync(fd.get()) != 0)
    return ErrnoError(errno, "fsync " + path);
  return Ok();
}

Status CopyFileSynced(const std::string& from, const std::string& to) {
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (out.get() < 0)
    return ErrnoError(errno, "create " + to);
  DXHUB_TRY(ReadChunks(from, [&](std::span<const uint8_t> chunk) {
    return WriteAll(out.get(), chunk.data(), chunk.size(), to);
  }));
  if (::fsync(out.get()) != 0)
    return ErrnoError(errno, "fsync " + to);
  if (out.Close() != 0)
    return ErrnoError(errno, "close " + to);
  return Ok();
}

Status RenameDurable(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return ErrnoError(errno, "rename to " + to);
  return SyncPath(ParentOf(to));
}

void RemoveQuiet(const std::string& path) {
  ::unlink(path.c_str());
}

Result<std::string> ReadFile(const std::string& path) {
  std::string out;
  DXHUB_TRY(ReadChunks(path, [&](std::span<const uint8_t> chunk) {
    out.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return Ok();
  }));
  return out;
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return ErrnoError(errno, "stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Result<MappedFile> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ErrnoError(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError(err, "stat " + path);
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return MappedFile(nullptr, 0);
  }
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file open
  if (data == MAP_FAILED)
    return ErrnoError(err, "mmap " + path);
  ::madvise(data, size, MADV_SEQUENTIAL);
  return MappedFile(data, size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr)
      ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr)
    ::munmap(data_, size_);
}

}  // namespace dxhub::fs
