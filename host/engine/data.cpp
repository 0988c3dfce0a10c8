#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/build_info.hpp"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>

#include "download.hpp"
#include "read_file.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/core/philox.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/memory.hpp"

namespace sgdlab {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTrainFile = "zip.train.gz";
constexpr const char* kTestFile = "zip.test.gz";

// The published files, as checked into data/usps.sha256.
struct KnownFile {
  const char* name;
  const char* sha256;
};
constexpr std::array<KnownFile, 2> kKnownFiles{{
    {kTrainFile, "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16"},
    {kTestFile, "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f"},
}};
constexpr std::array<const char*, 2> kMirrors{{
    "https://hastie.su.domains/ElemStatLearn/datasets/",
    "https://web.stanford.edu/~hastie/ElemStatLearn/datasets/",
}};

}  // namespace

namespace {

// A USPS line is a label and 256 numbers, about 2 kB; a longer line is not one, and
// reading it whole could take all memory (a gzip file of one 5 GB line).
constexpr size_t kMaxUspsLine = 1 << 20;

bool parse_number(std::string_view token, double& value) {
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, value);
  return ec == std::errc() && ptr == end && std::isfinite(value);
}

}  // namespace

Dataset read_usps_file(const std::string& path, int features) {
  GzipReader in(path);
  Dataset data;
  data.features = features;
  size_t line_no = 0;
  std::string text;
  std::vector<std::string_view> fields;
  while (in.read_line(text, kMaxUspsLine, line_no + 1)) {
    const std::string_view line(text);
    ++line_no;
    fields.clear();
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const size_t start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > start) fields.push_back(line.substr(start, i - start));
    }
    if (fields.empty()) continue;  // blank lines, such as a final newline
    if (int(fields.size()) != features + 1)
      SGDLAB_INPUT_ERROR(path, ":", line_no, ": expected ", features + 1, " fields (a label and ",
                         features, " pixels), found ", fields.size());
    double label = 0;
    if (!parse_number(fields[0], label) || label != std::floor(label) || label < 0 || label > 9)
      SGDLAB_INPUT_ERROR(path, ":", line_no, ": expected an integer label 0-9, found '",
                         std::string(fields[0]), "'");
    // Millions of valid lines could still outgrow memory: each doubling is asked first.
    if (data.x.size() + size_t(features) > data.x.capacity())
      require_host_memory(2.0 * sizeof(float) * double(data.x.size() + size_t(features)),
                          path + ":" + std::to_string(line_no));
    data.y.push_back(int32_t(label));
    for (int f = 1; f <= features; ++f) {
      double v = 0;
      if (!parse_number(fields[f], v))
        SGDLAB_INPUT_ERROR(path, ":", line_no, ": pixel ", f, ": expected a number, found '",
                           std::string(fields[f]), "'");
      if (v < -1.0 || v > 1.0)
        SGDLAB_INPUT_ERROR(path, ":", line_no, ": pixel ", f,
                           ": expected a value in [-1, 1], found ", std::string(fields[f]));
      data.x.push_back(float(v));
    }
  }
  if (data.y.empty())
    SGDLAB_INPUT_ERROR(path, ": no samples found (expected lines of ", features + 1, " numbers)");
  return data;
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) SGDLAB_INPUT_ERROR(path, ": cannot open to checksum");
  struct Free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    SGDLAB_THROW("OpenSSL: cannot start SHA-256");
  std::array<char, 1 << 16> buf;
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), size_t(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

namespace {

bool has_files(const fs::path& dir) {
  return fs::is_regular_file(dir / kTrainFile) && fs::is_regular_file(dir / kTestFile);
}

}  // namespace

void download_usps(const std::string& dir_name) {
  const fs::path dir(dir_name);
  make_folders(dir_name, "--data");
  for (const KnownFile& known : kKnownFiles) {
    const fs::path target = dir / known.name;
    if (fs::is_regular_file(target)) continue;
    const fs::path part = dir / (std::string(known.name) + ".part");
    std::string errors;
    bool ok = false;
    std::vector<std::string> mirrors(kMirrors.begin(), kMirrors.end());
    if (const char* env = std::getenv("SGDLAB_USPS_MIRROR"); env && *env) {
      std::string base = env;
      if (base.back() != '/') base += '/';
      mirrors = {base};
    }
    for (const std::string& mirror : mirrors) {
      const std::string url = mirror + known.name;
      std::string why;
      if (!download_file(url, part.string(), &why)) {
        errors += (errors.empty() ? "" : "; ") + url + ": " + why;
        continue;
      }
      const std::string sum = sha256_file(part.string());
      if (sum != known.sha256) {
        fs::remove(part);
        SGDLAB_INPUT_ERROR(url, ": checksum mismatch: expected SHA-256 ", known.sha256, ", got ",
                           sum, " (the download was discarded)");
      }
      fs::rename(part, target);
      ok = true;
      break;
    }
    if (!ok) {
      std::error_code ec;
      fs::remove(dir, ec);  // only if empty: nothing is left of a failed download
      SGDLAB_INPUT_ERROR("cannot download the USPS data (", errors, "); put zip.train.gz and ",
                         "zip.test.gz in ", dir.string(), " or pass --data DIR");
    }
  }
}

std::string locate_usps(const DataOptions& options, bool* downloaded) {
  if (downloaded) *downloaded = false;
  if (!options.dir.empty()) {
    if (!has_files(options.dir))
      SGDLAB_INPUT_ERROR("--data ", options.dir, ": expected ", kTrainFile, " and ", kTestFile,
                         " in this folder");
    return options.dir;
  }
  if (const char* env = std::getenv("SGDLAB_DATA"); env && *env) {
    if (!has_files(env))
      SGDLAB_INPUT_ERROR("$SGDLAB_DATA=", env, ": expected ", kTrainFile, " and ", kTestFile,
                         " in this folder");
    return env;
  }
  const fs::path local = options.download_dir.empty()
                             ? fs::path(build_source_dir()) / "data" / "usps"
                             : fs::path(options.download_dir);
  if (has_files(local)) return local.string();
  if (!options.allow_download)
    SGDLAB_INPUT_ERROR("no USPS data: pass --data DIR, set $SGDLAB_DATA, or put ", kTrainFile,
                       " and ", kTestFile, " in ", local.string());
  download_usps(local.string());
  if (downloaded) *downloaded = true;
  return local.string();
}

void split_validation(const Dataset& all, double fraction, uint64_t seed, Dataset& train,
                      Dataset& val) {
  const size_t n = all.size();
  const size_t n_val = size_t(std::llround(double(n) * fraction));
  std::vector<std::pair<uint32_t, uint32_t>> keyed(n);
  for (size_t i = 0; i < n; ++i) {
    const Philox4 r = philox4x32_10(Philox4{{uint32_t(i >> 2), 0u, 0u, kPhiloxTagSplit}},
                                    uint32_t(seed), uint32_t(seed >> 32));
    keyed[i] = {r.v[i & 3], uint32_t(i)};
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<char> is_val(n, 0);
  for (size_t i = 0; i < n_val; ++i) is_val[keyed[i].second] = 1;
  train = Dataset{all.features, {}, {}, all.image, all.from_uint8};
  val = Dataset{all.features, {}, {}, all.image, all.from_uint8};
  for (size_t i = 0; i < n; ++i) {
    Dataset& dst = is_val[i] ? val : train;
    dst.y.push_back(all.y[i]);
    dst.x.insert(dst.x.end(), all.x.begin() + i * all.features,
                 all.x.begin() + (i + 1) * all.features);
  }
}

UspsData load_usps(const DataOptions& options) {
  UspsData d;
  d.source = locate_usps(options, &d.downloaded);
  const Dataset all = read_usps_file((fs::path(d.source) / kTrainFile).string());
  d.test = read_usps_file((fs::path(d.source) / kTestFile).string());
  split_validation(all, options.val_fraction, options.split_seed, d.train, d.val);
  return d;
}

}  // namespace sgdlab
