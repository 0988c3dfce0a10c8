// The IDX (MNIST) and NumPy .npz readers. Both check every size against the bytes that
// are there before reading, so a truncated or lying file is one clear error, never a
// read past the end.
#include <zip.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include "read_file.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "sgdlab/engine/memory.hpp"

namespace sgdlab {
namespace fs = std::filesystem;
namespace {

// Images per file at most: far above any data set sgdlab is for, and it keeps every
// size product below 2^63.
constexpr uint64_t kMaxImages = 1u << 28;
constexpr uint64_t kMaxSide = 1u << 14;
// Values reserved before reading at most (16 M floats, 64 MB).
constexpr uint64_t kReserveAtMost = 1u << 24;

uint32_t big_endian_u32(const char* bytes) {
  return uint32_t(uint8_t(bytes[0])) << 24 | uint32_t(uint8_t(bytes[1])) << 16 |
         uint32_t(uint8_t(bytes[2])) << 8 | uint32_t(uint8_t(bytes[3]));
}

// An IDX file's dimensions, read from its header after checking its magic (0, 0, type
// 0x08 = ubyte, rank); `rank` is what the caller expects.
std::vector<uint64_t> read_idx_dims(GzipReader& in, int rank) {
  const std::string& path = in.path();
  char magic[4];
  const size_t got = in.read(magic, 4);
  if (got < 4 || magic[0] != 0 || magic[1] != 0)
    SGDLAB_INPUT_ERROR(path, ": not an IDX file (bad magic number)");
  if (uint8_t(magic[2]) != 0x08)
    SGDLAB_INPUT_ERROR(path, ": IDX element type 0x", std::hex, int(uint8_t(magic[2])),
                       " is not supported (expected 0x08, unsigned bytes)");
  if (int(uint8_t(magic[3])) != rank)
    SGDLAB_INPUT_ERROR(path, ": expected an IDX file of rank ", rank, ", found rank ",
                       int(uint8_t(magic[3])));
  std::vector<uint64_t> dims;
  for (int i = 0; i < rank; ++i) {
    char size[4];
    if (in.read(size, 4) < 4) SGDLAB_INPUT_ERROR(path, ": truncated IDX header");
    dims.push_back(big_endian_u32(size));
    if (dims.back() == 0) SGDLAB_INPUT_ERROR(path, ": dimension ", i, " is 0 (no data)");
    if (dims.back() > (i == 0 ? kMaxImages : kMaxSide))
      SGDLAB_INPUT_ERROR(path, ": dimension ", i, " is ", dims.back(), ", too large");
  }
  return dims;
}

// Exactly the `count` bytes of data the header declared, each passed to `take`, in
// chunks: a file cut short is refused with what it holds, and one with more data than
// declared (a gzip file that inflates far beyond) after a look of one byte.
template <class Take>
void read_idx_data(GzipReader& in, uint64_t count, Take take) {
  std::vector<char> chunk(size_t(std::min<uint64_t>(count, 1 << 20)));
  for (uint64_t done = 0; done < count;) {
    const size_t want = size_t(std::min<uint64_t>(count - done, chunk.size()));
    const size_t got = in.read(chunk.data(), want);
    for (size_t i = 0; i < got; ++i) take(uint8_t(chunk[i]));
    done += got;
    if (got < want)
      SGDLAB_INPUT_ERROR(in.path(), ": truncated: the header promises ", count,
                         " bytes of data, found ", done);
  }
  if (!in.at_end())
    SGDLAB_INPUT_ERROR(in.path(), ": more data than the header declares (", count,
                       " bytes); the file is corrupt or not this data set's");
}

// `path`, or its twin `path.gz` (or `path` without .gz) when both exist: they must hold
// the same bytes, or which one is meant is unclear. Compared as streams, stopping at the
// first difference.
void check_gzip_twin(const std::string& path) {
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  const std::string twin = gz ? path.substr(0, path.size() - 3) : path + ".gz";
  std::error_code ec;
  if (!fs::is_regular_file(twin, ec)) return;
  GzipReader a(path), b(twin);
  std::vector<char> x(1 << 16), y(1 << 16);
  for (;;) {
    const size_t n = a.read(x.data(), x.size());
    const size_t m = b.read(y.data(), n == 0 ? 1 : n);
    if (n != m || std::memcmp(x.data(), y.data(), n) != 0)
      SGDLAB_INPUT_ERROR(path, " and ", twin, " both exist and hold different data; remove ",
                         "the one that is not meant");
    if (n == 0) return;
  }
}

// The first file in `dir` whose name has every part, or "" (the MNIST family names its
// files "train-images-idx3-ubyte", "emnist-letters-train-images-idx3-ubyte", ...).
std::string find_file(const fs::path& dir, std::initializer_list<std::string_view> parts) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    bool all = true;
    for (auto p : parts) all = all && name.find(p) != std::string::npos;
    if (all && e.is_regular_file()) found.push_back(e.path().string());
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? "" : found.front();
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path) {
  GzipReader images(images_path), labels(labels_path);
  const auto idims = read_idx_dims(images, 3);
  const auto ldims = read_idx_dims(labels, 1);
  if (idims[0] != ldims[0])
    SGDLAB_INPUT_ERROR(images_path, ": ", idims[0], " images but ", labels_path, " has ", ldims[0],
                       " labels");
  Dataset d;
  d.image = {1, int(idims[1]), int(idims[2])};
  d.features = int(d.image.size());
  d.from_uint8 = true;
  const uint64_t pixels = idims[0] * uint64_t(d.features);
  // Asked before anything is allocated: a valid header may declare terabytes.
  require_host_memory(double(pixels + idims[0]) * sizeof(float),
                      images_path + ": " + std::to_string(idims[0]) + " images of " +
                          std::to_string(idims[1]) + "x" + std::to_string(idims[2]));
  // Grown as the data comes, not reserved as declared: a short file then takes memory
  // for what it holds, not for what its header claims.
  d.x.reserve(size_t(std::min<uint64_t>(pixels, kReserveAtMost)));
  read_idx_data(images, pixels, [&](uint8_t v) { d.x.push_back(float(v)); });
  d.y.reserve(size_t(std::min<uint64_t>(ldims[0], kReserveAtMost)));
  read_idx_data(labels, ldims[0], [&](uint8_t v) { d.y.push_back(int32_t(v)); });
  return d;
}

std::pair<std::string, std::string> idx_split_files(const std::string& dir,
                                                    const std::string& split) {
  const auto prefix = split == "train" ? std::string_view("train") : std::string_view("t10k");
  std::string images = find_file(dir, {prefix, "images", "idx3-ubyte"});
  std::string labels = find_file(dir, {prefix, "labels", "idx1-ubyte"});
  if (split == "test" && images.empty()) images = find_file(dir, {"test", "images", "idx3-ubyte"});
  if (split == "test" && labels.empty()) labels = find_file(dir, {"test", "labels", "idx1-ubyte"});
  if (images.empty() || labels.empty())
    SGDLAB_INPUT_ERROR(dir, ": expected the IDX files ", prefix, "-images-idx3-ubyte and ", prefix,
                       "-labels-idx1-ubyte (raw or .gz) for the ", split, " split");
  check_gzip_twin(images);
  check_gzip_twin(labels);
  return {images, labels};
}

Dataset read_idx_split(const std::string& dir, const std::string& split) {
  const auto [images, labels] = idx_split_files(dir, split);
  return read_idx(images, labels);
}

namespace {

struct ZipCloser {
  void operator()(zip_t* z) const noexcept { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};

// A member's size is believed, and allocated, only where its compressed bytes could hold
// it: NumPy writes members stored (np.savez) or deflated (np.savez_compressed), and
// deflate expands at most 1032 times. A forged header would otherwise claim gigabytes
// from a few bytes (found by fuzz_npz).
void check_member_size(const zip_stat_t& st, const std::string& name, const std::string& path) {
  constexpr uint64_t kMaxDeflateRatio = 1032;
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (!(st.valid & ZIP_STAT_COMP_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD) || ec ||
      st.comp_size > file_size)
    SGDLAB_INPUT_ERROR(path, ": ", name, ": compressed size unknown or beyond the file");
  if (st.comp_method == ZIP_CM_STORE && st.size != st.comp_size)
    SGDLAB_INPUT_ERROR(path, ": ", name, ": stored member of ", st.comp_size, " bytes claims ",
                       st.size);
  if (st.comp_method == ZIP_CM_DEFLATE && st.size > st.comp_size * kMaxDeflateRatio + 64)
    SGDLAB_INPUT_ERROR(path, ": ", name, ": ", st.comp_size, " deflated bytes cannot hold ",
                       st.size);
  if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
    SGDLAB_INPUT_ERROR(path, ": ", name, ": compression method ", st.comp_method,
                       " (NumPy writes members stored or deflated)");
}

// The bytes of member `name` of an open archive.
std::string zip_member(zip_t* archive, const std::string& name, const std::string& path) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(archive, name.c_str(), 0, &st) != 0)
    SGDLAB_INPUT_ERROR(path, ": no array '", name.substr(0, name.size() - 4), "' (expected ",
                       "x_train, y_train, x_test and y_test)");
  if (!(st.valid & ZIP_STAT_SIZE) || st.size > (uint64_t(1) << 34))
    SGDLAB_INPUT_ERROR(path, ": ", name, ": size unknown or too large");
  check_member_size(st, name, path);
  require_host_memory(double(st.size), path + ": " + name);
  std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen(archive, name.c_str(), 0));
  if (!f) SGDLAB_INPUT_ERROR(path, ": ", name, ": cannot read (", zip_strerror(archive), ")");
  std::string bytes(st.size, '\0');
  const zip_int64_t n = zip_fread(f.get(), bytes.data(), st.size);
  if (n < 0 || uint64_t(n) != st.size)
    SGDLAB_INPUT_ERROR(path, ": ", name, ": truncated or corrupt (", zip_file_strerror(f.get()),
                       ")");
  return bytes;
}

}  // namespace

namespace {

// One array of a .npy file (NumPy's format: magic, version, a little-endian header
// length, a Python dict literal with descr, fortran_order and shape, then the data).
using NpyArray = ArrayView;

// The value after `key` in the header dict, up to the next `end` character.
std::string header_field(const std::string& header, const std::string& key, char end,
                         const std::string& where) {
  const size_t k = header.find("'" + key + "'");
  const size_t colon = k == std::string::npos ? k : header.find(':', k);
  if (colon == std::string::npos) SGDLAB_INPUT_ERROR(where, ": .npy header lacks '", key, "'");
  size_t start = header.find_first_not_of(" ", colon + 1);
  const size_t stop = start == std::string::npos ? start : header.find(end, start + 1);
  if (stop == std::string::npos) SGDLAB_INPUT_ERROR(where, ": malformed .npy header");
  return header.substr(start, stop - start + 1);
}

std::vector<uint64_t> parse_shape(const std::string& tuple, const std::string& where) {
  std::vector<uint64_t> dims;
  size_t i = 1;  // after '('
  while (i < tuple.size()) {
    while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',')) ++i;
    if (i >= tuple.size() || tuple[i] == ')') break;
    uint64_t v = 0;
    const size_t first = i;
    while (i < tuple.size() && tuple[i] >= '0' && tuple[i] <= '9' && v < (uint64_t(1) << 40))
      v = v * 10 + uint64_t(tuple[i++] - '0');
    if (i == first) SGDLAB_INPUT_ERROR(where, ": malformed .npy shape ", tuple);
    dims.push_back(v);
  }
  return dims;
}

// Bytes per element of a descr such as "<i8"; 0 for anything but 1, 2, 4 or 8 bytes, so a
// forged "<i9" cannot make integer_at copy more than an int64 holds.
size_t item_size(const std::string& dtype) {
  if (dtype.size() != 3) return 0;
  const char digit = dtype[2];
  return digit == '1' || digit == '2' || digit == '4' || digit == '8' ? size_t(digit - '0') : 0;
}

// The dtype, every dimension and the bytes the shape needs, before anything is read.
void check_array(const ArrayView& a, const std::string& where) {
  const size_t item = item_size(a.dtype);
  if (item == 0 || (a.dtype[0] != '<' && a.dtype[0] != '|'))
    SGDLAB_INPUT_ERROR(where, ": dtype ", a.dtype, " is not supported (little-endian integers, ",
                       "uint8 or float32)");
  for (uint64_t d : a.shape)
    if (d == 0) SGDLAB_INPUT_ERROR(where, ": zero-size array (shape has a 0)");
  if (a.shape.empty() || a.shape[0] > kMaxImages)
    SGDLAB_INPUT_ERROR(where, ": expected an array with a first dimension of at most ", kMaxImages);
  for (size_t i = 1; i < a.shape.size(); ++i)
    if (a.shape[i] > kMaxSide) SGDLAB_INPUT_ERROR(where, ": dimension ", i, " is too large");
  if (a.data.size() / item < a.count())
    SGDLAB_INPUT_ERROR(where, ": truncated: shape needs ", a.count() * item, " bytes, found ",
                       a.data.size());
}

NpyArray parse_npy(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    SGDLAB_INPUT_ERROR(where, ": not a .npy array (bad magic number)");
  const int major = uint8_t(bytes[6]);
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3 || bytes.size() < 8 + len_bytes)
    SGDLAB_INPUT_ERROR(where, ": unsupported .npy version ", major);
  size_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i) header_len |= size_t(uint8_t(bytes[8 + i])) << (8 * i);
  const size_t data_at = 8 + len_bytes + header_len;
  if (data_at > bytes.size()) SGDLAB_INPUT_ERROR(where, ": truncated .npy header");
  const std::string header = bytes.substr(8 + len_bytes, header_len);
  NpyArray a;
  const std::string descr = header_field(header, "descr", '\'', where);
  // A structured dtype is a list of fields ("[('x', '<f4'), ...]"), not a quoted code.
  if (descr.empty() || descr[0] != '\'')
    SGDLAB_INPUT_ERROR(where, ": a structured (record) dtype is not supported (little-endian ",
                       "integers, uint8 or float32)");
  a.dtype = descr.size() >= 2 ? descr.substr(1, descr.size() - 2) : "";
  if (header_field(header, "fortran_order", 'e', where).find("True") != std::string::npos)
    SGDLAB_INPUT_ERROR(where, ": Fortran-ordered arrays are not supported (save it C-ordered)");
  a.shape = parse_shape(header_field(header, "shape", ')', where), where);
  a.data = std::string_view(bytes).substr(data_at);
  check_array(a, where);
  a.data = a.data.substr(0, a.count() * item_size(a.dtype));
  return a;
}

// Element i of an integer array as int64.
int64_t integer_at(const NpyArray& a, size_t i) {
  const char kind = a.dtype[1];
  const size_t item = item_size(a.dtype);
  uint64_t raw = 0;
  std::memcpy(&raw, a.data.data() + i * item, item);  // little-endian host
  if (kind == 'u' || item == 8) return int64_t(raw);
  const uint64_t sign = uint64_t(1) << (8 * item - 1);
  return int64_t((raw ^ sign) - sign);
}

// float32 pixels must be numbers: one NaN or infinity turns every weight it reaches
// into NaN. The first one is named by its index in the array.
void check_finite(const NpyArray& a, const std::string& where) {
  const uint64_t n = a.count();
  for (uint64_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, a.data.data() + i * 4, 4);
    if (!std::isfinite(v))
      SGDLAB_INPUT_ERROR(where, ": element ", i, " (image ", i / (n / a.shape[0]), ") is ", v,
                         ": pixels must be finite numbers");
  }
}

// Images as [N, C, H, W] floats from [N, H, W], [N, C, H, W] or (nhwc) [N, H, W, C].
Dataset images_from(const NpyArray& a, bool nhwc, const std::string& where) {
  Dataset d;
  const auto& s = a.shape;
  if (s.size() == 3)
    d.image = {1, int(s[1]), int(s[2])};
  else if (s.size() == 4)
    d.image =
        nhwc ? Shape3{int(s[3]), int(s[1]), int(s[2])} : Shape3{int(s[1]), int(s[2]), int(s[3])};
  else
    SGDLAB_INPUT_ERROR(where, ": expected images [N, H, W] or [N, C, H, W], got rank ", s.size());
  if (a.dtype != "|u1" && a.dtype != "<f4")
    SGDLAB_INPUT_ERROR(where, ": images of dtype ", a.dtype, " (expected uint8 or float32)");
  d.features = int(d.image.size());
  d.from_uint8 = a.dtype == "|u1";
  const size_t n = s[0], plane = size_t(d.image.H) * d.image.W, C = d.image.C;
  require_host_memory(double(n) * double(d.features) * sizeof(float),
                      where + ": " + std::to_string(n) + " images");
  if (!d.from_uint8) check_finite(a, where);
  d.x.resize(n * d.features);
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < C; ++c)
      for (size_t p = 0; p < plane; ++p) {
        const size_t src =
            nhwc && s.size() == 4 ? (i * plane + p) * C + c : (i * C + c) * plane + p;
        float v;
        if (d.from_uint8)
          v = float(uint8_t(a.data[src]));
        else
          std::memcpy(&v, a.data.data() + src * 4, 4);
        d.x[(i * C + c) * plane + p] = v;
      }
  return d;
}

}  // namespace

Dataset read_npz_split(const std::string& path, const std::string& split, bool nhwc) {
  int err = 0;
  std::unique_ptr<zip_t, ZipCloser> archive(zip_open(path.c_str(), ZIP_RDONLY, &err));
  if (!archive) {
    zip_error_t e;
    zip_error_init_with_code(&e, err);
    const std::string why = zip_error_strerror(&e);
    zip_error_fini(&e);
    SGDLAB_INPUT_ERROR(path, ": not a readable .npz (zip) file (", why, ")");
  }
  const std::string xs = zip_member(archive.get(), "x_" + split + ".npy", path);
  const std::string ys = zip_member(archive.get(), "y_" + split + ".npy", path);
  const NpyArray x = parse_npy(xs, path + ": x_" + split);
  const NpyArray y = parse_npy(ys, path + ": y_" + split);
  return dataset_from_arrays(x, y, nhwc, path + ": x_" + split, path + ": y_" + split);
}

Dataset dataset_from_arrays(const ArrayView& x, const ArrayView& y, bool nhwc,
                            const std::string& x_name, const std::string& y_name) {
  check_array(x, x_name);
  check_array(y, y_name);
  if (y.shape.size() != 1 || (y.dtype[1] != 'i' && y.dtype[1] != 'u'))
    SGDLAB_INPUT_ERROR(y_name, ": expected integer labels [N], got dtype ", y.dtype, " rank ",
                       y.shape.size());
  if (x.shape[0] != y.shape[0])
    SGDLAB_INPUT_ERROR(x_name, " has ", x.shape[0], " images but ", y_name, " has ", y.shape[0],
                       " labels");
  Dataset d = images_from(x, nhwc, x_name);
  d.y.resize(y.shape[0]);
  for (size_t i = 0; i < d.y.size(); ++i) {
    const int64_t label = integer_at(y, i);
    // A uint64 label above INT64_MAX reads as negative: shown as the file holds it.
    const std::string shown =
        y.dtype[1] == 'u' && label < 0 ? std::to_string(uint64_t(label)) : std::to_string(label);
    if (label < 0 || label > (1 << 20))
      SGDLAB_INPUT_ERROR(y_name, "[", i, "] = ", shown, " is not a class index");
    d.y[i] = int32_t(label);
  }
  return d;
}

}  // namespace sgdlab
