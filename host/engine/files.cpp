#include "sgdlab/engine/files.hpp"

#include <unistd.h>

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

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  const fs::path target(path);
  std::error_code ec;
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
