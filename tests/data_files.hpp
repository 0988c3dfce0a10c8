#pragma once
// Writers of small IDX and .npz files for the tests (nothing is downloaded), and IDX
// data made from the USPS images.
#include <zip.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/test_util.hpp"

namespace sgdlab::test {

inline std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// An IDX file of unsigned bytes with the given dimensions.
inline std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{'\0', '\0', char(0x08), char(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  s.append(data.begin(), data.end());
  return s;
}

// images [n, h, w] and labels [n] as train-* or t10k-* files, gzipped or raw.
inline void write_idx_split(const std::string& dir, const std::string& prefix, int n, int h, int w,
                            const std::vector<uint8_t>& pixels, const std::vector<uint8_t>& labels,
                            bool gz) {
  std::filesystem::create_directories(dir);
  const std::string images = idx_bytes({uint32_t(n), uint32_t(h), uint32_t(w)}, pixels);
  const std::string lab = idx_bytes({uint32_t(n)}, labels);
  const std::string suffix = gz ? ".gz" : "";
  if (gz) {
    write_gzip(dir + "/" + prefix + "-images-idx3-ubyte.gz", images);
    write_gzip(dir + "/" + prefix + "-labels-idx1-ubyte.gz", lab);
  } else {
    write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", images);
    write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", lab);
  }
}

// A .npy file: NumPy's magic, version 1.0, the header dict padded to 64 bytes.
inline std::string npy_bytes(const std::string& descr, const std::vector<uint64_t>& shape,
                             const std::string& data) {
  std::string dims;
  for (uint64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims = dims.substr(0, dims.size() - 2);
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += char(1);
  s += char(0);
  s += char(header.size() & 0xff);
  s += char(header.size() >> 8);
  return s + header + data;
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A .npz (zip) of named .npy members.
inline void write_npz(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& members) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  std::vector<std::string> keep;  // libzip reads the buffers at zip_close
  keep.reserve(members.size());
  for (const auto& [name, bytes] : members) {
    keep.push_back(bytes);
    zip_source_t* src = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
    zip_file_add(z, (name + ".npy").c_str(), src, ZIP_FL_OVERWRITE);
  }
  zip_close(z);
}

// The USPS images as IDX files: padded from 16x16 to 28x28 with the background, and
// [-1, 1] mapped to 0..255, so that MNIST-sized models can be tried on them.
inline void write_usps_as_idx(const std::string& dir, const UspsData& usps, size_t train_n,
                              size_t test_n) {
  auto convert = [](const Dataset& d, size_t n, std::vector<uint8_t>& pixels,
                    std::vector<uint8_t>& labels) {
    n = std::min(n, d.size());
    pixels.assign(n * 28 * 28, 0);
    labels.resize(n);
    for (size_t i = 0; i < n; ++i) {
      labels[i] = uint8_t(d.y[i]);
      for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c) {
          const float v = d.x[i * 256 + r * 16 + c];
          pixels[i * 784 + (r + 6) * 28 + c + 6] = uint8_t(std::lround((v + 1) * 127.5f));
        }
    }
    return int(n);
  };
  std::vector<uint8_t> px, lb;
  const int n_train = convert(usps.train, train_n, px, lb);
  write_idx_split(dir, "train", n_train, 28, 28, px, lb, true);
  const int n_test = convert(usps.test, test_n, px, lb);
  write_idx_split(dir, "t10k", n_test, 28, 28, px, lb, false);
}

}  // namespace sgdlab::test
