#include "read_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sgdlab/core/error.hpp"

namespace sgdlab {

GzipReader::GzipReader(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  if (std::filesystem::is_directory(path_, ec)) SGDLAB_INPUT_ERROR(path_, ": is a folder");
  if (!std::filesystem::is_regular_file(path_, ec)) SGDLAB_INPUT_ERROR(path_, ": no such file");
  file_.reset(gzopen(path_.c_str(), "rb"));
  if (!file_) SGDLAB_INPUT_ERROR(path_, ": cannot open (", std::strerror(errno), ")");
}

size_t GzipReader::fill() {
  begin_ = end_ = 0;
  const int n = gzread(file_.get(), buffer_.data(), unsigned(buffer_.size()));
  int code = 0;
  const char* msg = gzerror(file_.get(), &code);
  if (n < 0) SGDLAB_INPUT_ERROR(path_, ": corrupt gzip data (", msg, ")");
  // zlib reports a stream cut short only through gzerror after the last read.
  if (n == 0 && code != Z_OK && code != Z_STREAM_END)
    SGDLAB_INPUT_ERROR(path_, ": truncated or corrupt gzip data (", msg, ")");
  end_ = size_t(n);
  return end_;
}

size_t GzipReader::read(char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    if (begin_ == end_ && fill() == 0) break;
    const size_t take = std::min(n - done, end_ - begin_);
    std::memcpy(dst + done, buffer_.data() + begin_, take);
    begin_ += take;
    done += take;
  }
  return done;
}

bool GzipReader::read_line(std::string& line, size_t max_length, size_t line_no) {
  line.clear();
  bool any = false;
  for (;;) {
    if (begin_ == end_ && fill() == 0) return any;
    any = true;
    const char* from = buffer_.data() + begin_;
    const char* eol = static_cast<const char*>(std::memchr(from, '\n', end_ - begin_));
    const size_t take = eol ? size_t(eol - from) : end_ - begin_;
    if (line.size() + take > max_length)
      SGDLAB_INPUT_ERROR(path_, ":", line_no, ": line longer than ", max_length, " bytes");
    line.append(from, take);
    begin_ += take;
    if (eol) {
      ++begin_;
      return true;
    }
  }
}

bool GzipReader::at_end() {
  return begin_ == end_ && fill() == 0;
}

}  // namespace sgdlab
