#include "sgdlab/engine/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

namespace fs = std::filesystem;

// The temporary file of one write, removed unless it was renamed into place: whatever
// fails (open, write, close, rename), nothing is left beside the target.
class TemporaryFile {
 public:
  explicit TemporaryFile(fs::path path) : path_(std::move(path)) {}
  ~TemporaryFile() {
    std::error_code ignored;
    if (!renamed_) fs::remove(path_, ignored);
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const fs::path& path() const { return path_; }
  void renamed() { renamed_ = true; }

 private:
  fs::path path_;
  bool renamed_ = false;
};

// An open file descriptor, closed when it goes (a close that fails is seen by close()).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// What a write to `path` replaces: the path itself or, for a symbolic link, the file it
// points to, followed link by link (a dangling link names the file to create). Renaming
// onto the link itself would turn it into a regular file.
fs::path follow_links(const fs::path& path) {
  fs::path p = path;
  for (int hops = 0; hops < 40; ++hops) {  // 40: Linux's own limit (ELOOP)
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(p, ec)) || ec) return p;
    const fs::path next = fs::read_symlink(p, ec);
    if (ec) SGDLAB_INPUT_ERROR(path.string(), ": cannot read the link (", ec.message(), ")");
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
  SGDLAB_INPUT_ERROR(path.string(), ": cannot write (too many levels of symbolic links)");
}

// A FIFO or a character device (a terminal, /dev/null) takes the bytes where it is: it
// cannot be replaced by a rename, and must not be.
void write_in_place(const std::string& path, const fs::path& target, const std::string& content) {
  FileDescriptor fd(::open(target.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) SGDLAB_INPUT_ERROR(path, ": cannot write (", std::strerror(errno), ")");
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) SGDLAB_INPUT_ERROR(path, ": cannot write (", std::strerror(errno), ")");
    done += size_t(n);
  }
  if (fd.close() != 0) SGDLAB_INPUT_ERROR(path, ": cannot write (", std::strerror(errno), ")");
}

// What kind of file other than a regular one `status` is, for the message.
const char* kind_of(const fs::file_status& status) {
  switch (status.type()) {
    case fs::file_type::directory:
      return "it is a folder";
    case fs::file_type::block:
      return "it is a block device";
    case fs::file_type::socket:
      return "it is a socket";
    default:
      return "it is not a regular file";
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  const fs::path target = follow_links(path);
  std::error_code ec;
  const fs::file_status status = fs::status(target, ec);
  if (fs::is_fifo(status) || fs::is_character_file(status))
    return write_in_place(path, target, content);
  // Never rename over a folder, a socket or a device node.
  if (fs::exists(status) && !fs::is_regular_file(status))
    SGDLAB_INPUT_ERROR(path, ": cannot write (", kind_of(status), ")");
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) SGDLAB_INPUT_ERROR(path, ": cannot create its folder (", ec.message(), ")");
  }
  TemporaryFile tmp(target.string() + ".tmp." + std::to_string(::getpid()));
  {
    std::ofstream out(tmp.path(), std::ios::binary | std::ios::trunc);
    if (!out) SGDLAB_INPUT_ERROR(path, ": cannot write (", std::strerror(errno), ")");
    out << content;
    out.close();  // flushes: a full disk shows here
    if (!out) SGDLAB_INPUT_ERROR(path, ": cannot write (disk full?)");
  }
  fs::rename(tmp.path(), target, ec);
  if (ec) SGDLAB_INPUT_ERROR(path, ": cannot write (", ec.message(), ")");
  tmp.renamed();
}

void make_folders(const std::string& path, const std::string& what) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) SGDLAB_INPUT_ERROR(what, " ", path, ": cannot create the folder (", ec.message(), ")");
}

namespace {

// The process id that a locked folder's .lock names, or an empty text.
std::string lock_owner(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? size_t(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

// Whether `fd` is still the file at `path`: the holder may have removed it (its run
// ended) between our open and our flock.
bool same_file(int fd, const std::string& path) {
  struct stat a {
  }, b{};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

FolderLock::FolderLock(const std::string& folder, const std::string& what)
    : path_(folder + "/.lock") {
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      SGDLAB_INPUT_ERROR(what, " ", folder, ": cannot lock the folder (", std::strerror(errno),
                         ")");
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int why = errno;
      const std::string owner = lock_owner(fd_);
      ::close(fd_);
      fd_ = -1;
      if (why == EWOULDBLOCK)
        SGDLAB_INPUT_ERROR(what, " ", folder, ": is in use by ",
                           owner.empty() ? std::string("another process") : "pid " + owner,
                           " (one process at a time writes a run folder)");
      SGDLAB_INPUT_ERROR(what, " ", folder, ": cannot lock the folder (", std::strerror(why), ")");
    }
    if (same_file(fd_, path_)) break;
    ::close(fd_);  // a lock on a removed file locks nothing: take the new one
    fd_ = -1;
  }
  SGDLAB_CHECK(fd_ >= 0, "the lock file ", path_, " to settle");
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    SGDLAB_INPUT_ERROR(what, " ", folder, ": cannot write its lock (", std::strerror(errno), ")");
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  // Removed while still locked, so that whoever opens .lock next finds the lock free or
  // a new file (same_file above).
  if (same_file(fd_, path_)) ::unlink(path_.c_str());
  ::close(fd_);
}

void FolderLock::moved_to(const std::string& folder) {
  path_ = folder + "/.lock";
}

void exchange_folders(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) return;
  if (errno != EINVAL && errno != ENOSYS)
    SGDLAB_INPUT_ERROR(to, ": cannot put the new run in place (", std::strerror(errno), ")");
  // No atomic exchange here: the old run steps aside for a moment.
  const std::string aside = from + ".old";
  if (std::rename(to.c_str(), aside.c_str()) != 0)
    SGDLAB_INPUT_ERROR(to, ": cannot put the new run in place (", std::strerror(errno), ")");
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    const int why = errno;
    std::rename(aside.c_str(), to.c_str());
    SGDLAB_INPUT_ERROR(to, ": cannot put the new run in place (", std::strerror(why), ")");
  }
  if (std::rename(aside.c_str(), from.c_str()) != 0)
    SGDLAB_INPUT_ERROR(to, ": cannot move the old run aside (", std::strerror(errno), ")");
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  // A folder opens as an empty stream on Linux and would read as an empty file.
  if (fs::is_directory(path, ec)) SGDLAB_INPUT_ERROR(path, ": is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) SGDLAB_INPUT_ERROR(path, ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sgdlab
