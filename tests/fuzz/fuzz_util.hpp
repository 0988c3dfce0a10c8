#pragma once
// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp, run with tools/fuzz.sh).
//
// Every target treats sgdlab::InputError as the expected answer to a bad input and lets
// anything else escape: an uncaught exception aborts, and the sanitizers (ASan, UBSan
// with no recovery) turn every other defect into a crash that libFuzzer reports.
// FUZZ_CHECK states what a reader promises about the inputs it accepts.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace sgdlab::fuzz {

// The readers take paths: an input goes through a file of this process's own ($TMPDIR or
// /tmp, the process id in its name), rewritten for each input and removed at exit.
class TempFile {
 public:
  explicit TempFile(const std::string& tag, const std::string& suffix = "") {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/sgdlab-fuzz-" + tag + "-" +
            std::to_string(::getpid()) + suffix;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Replaces the file's contents with `size` bytes; a failure here is the machine's, not
  // the reader's, so it stops the run.
  const std::string& write(const uint8_t* data, size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
      std::perror(path_.c_str());
      std::abort();
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string text_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace sgdlab::fuzz
