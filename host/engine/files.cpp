#include "sgdlab/engine/files.hpp"

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sgdlab/core/error.hpp"

namespace sgdlab {

void write_file_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path tmp = target.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) SGDLAB_INPUT_ERROR(path, ": cannot write");
    out << content;
    out.flush();
    if (!out) {
      out.close();
      fs::remove(tmp);
      SGDLAB_INPUT_ERROR(path, ": write failed (disk full?)");
    }
  }
  fs::rename(tmp, target);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) SGDLAB_INPUT_ERROR(path, ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sgdlab
