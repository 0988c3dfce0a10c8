#pragma once
// Helpers shared by the tests: temporary folders, gzip writers, the real data.
#include <gtest/gtest.h>
#include <zlib.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/data.hpp"

namespace sgdlab::test {

// n values uniform in [lo, hi), the same for the same seed.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1, float hi = 1) {
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(r);
  return v;
}

// A fresh folder removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sgdlab-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_gzip(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), unsigned(text.size()));
  gzclose(f);
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One well-formed line: label then 256 values.
inline std::string usps_line(int label, double pixel = 0.5) {
  std::string s = std::to_string(label) + ".0000";
  for (int i = 0; i < 256; ++i) s += " " + std::to_string(pixel);
  return s + "\n";
}

// The USPS files: the copy beside the checkout (CI, developers), else the project's
// own lookup ($SGDLAB_DATA, data/usps, or a verified download).
inline std::string real_data_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("SGDLAB_TEST_DATA");
    const std::string shared = env && *env ? env : SGDLAB_TEST_DATA;
    if (std::filesystem::exists(shared + "/zip.train.gz")) return shared;
    return locate_usps({});
  }();
  return dir;
}

// The first `train`, `val` and `test` images of each split of the real USPS data: small
// in-process data sets for training tests.
inline UspsData usps_head(size_t train, size_t val, size_t test) {
  const UspsData all = load_usps({real_data_dir()});
  auto head = [](const Dataset& d, size_t n) {
    Dataset out{d.features, {}, {}};
    out.x.assign(d.x.begin(), d.x.begin() + n * d.features);
    out.y.assign(d.y.begin(), d.y.begin() + n);
    return out;
  };
  return {head(all.train, train), head(all.val, val), head(all.test, test), "head"};
}

// The sgdlab binary: as built, or $SGDLAB_TEST_BINARY for a build carried elsewhere.
inline std::string sgdlab_binary() {
  const char* env = std::getenv("SGDLAB_TEST_BINARY");
  return env && *env ? env : SGDLAB_BINARY;
}

// Runs a shell command; returns its exit status and what it printed (stdout+stderr).
inline int run_command(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace sgdlab::test

namespace sgdlab::test {

// A data folder with the first lines of the real files, for quick end-to-end runs.
inline void write_small_usps(const std::string& dir, int train_lines, int test_lines) {
  std::filesystem::create_directories(dir);
  for (auto [name, lines] :
       {std::pair<std::string, int>{"zip.train.gz", train_lines}, {"zip.test.gz", test_lines}}) {
    gzFile in = gzopen((real_data_dir() + "/" + name).c_str(), "rb");
    std::string text;
    char buf[1 << 16];
    int n;
    while ((n = gzread(in, buf, sizeof buf)) > 0) text.append(buf, size_t(n));
    gzclose(in);
    size_t pos = 0;
    for (int i = 0; i < lines && pos != std::string::npos; ++i) pos = text.find('\n', pos + 1);
    write_gzip(dir + "/" + name, text.substr(0, pos + 1));
  }
}

// " FLAG VALUE" unless `args` already gives FLAG: a flag given twice is refused, so a
// test's defaults step aside for what the case gives.
inline std::string unless_given(const std::string& args, const std::string& flag,
                                const std::string& value) {
  return args.find(flag + " ") != std::string::npos ? "" : " " + flag + " " + value;
}

// The message of the InputError that `fn` throws, or a failure.
template <class Fn>
std::string input_error(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

}  // namespace sgdlab::test
