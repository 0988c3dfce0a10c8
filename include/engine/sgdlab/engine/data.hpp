#pragma once
// Data sets in memory, their splits and scaling, and the USPS digits in the ESL "zip
// code" format: each line a label, then 256 grey values in [-1, 1], read through zlib
// (gzip or plain text). The other formats are in datasets.hpp.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sgdlab/engine/model.hpp"

namespace sgdlab {

struct Dataset {
  int features = 0;
  std::vector<float> x;     // [n, features]
  std::vector<int32_t> y;   // [n]
  Shape3 image{1, 16, 16};  // channels, height, width: features = image.size()
  bool from_uint8 = false;  // x holds 0..255 pixel values, to be scaled
  size_t size() const { return y.size(); }
};

// Reads one file; throws InputError naming the file, the line and what was expected.
Dataset read_usps_file(const std::string& path, int features = 256);

// What was done to the pixels, so that a checkpoint can do it again to new images.
struct Scaling {
  float divide = 1;                 // 255 for uint8 pixels
  std::vector<float> mean, stddev;  // per channel, after dividing; empty: none
  nlohmann::json to_json() const;
  static Scaling from_json(const nlohmann::json& j, const std::string& source);
};

struct UspsData {
  Dataset train, val, test;
  std::string source;       // the folder the files came from
  bool downloaded = false;  // they were downloaded there just now (the caller says so)
  std::string format = "usps";
  Scaling scaling;  // what was done to the pixels (the same must be done to new images)
};

struct DataOptions {
  std::string dir;          // --data; empty: $SGDLAB_DATA, then data/usps, then download
  uint64_t split_seed = 0;  // the seeded 20% validation split
  double val_fraction = 0.2;
  bool allow_download = true;
  // Where a download goes; empty: data/usps in the source tree.
  std::string download_dir;
  std::string format = "auto";  // --format: auto, usps, idx, npz
  bool nhwc = false;            // --layout nhwc: npz images are [N, H, W, C]
  bool standard = false;        // --normalize standard
};

// Finds (or downloads and verifies) the files, reads them, and splits validation off
// the training set.
UspsData load_usps(const DataOptions& options);

// The folder that holds zip.train.gz and zip.test.gz, by the lookup order above. Prints
// nothing: *downloaded (when given) says whether it downloaded them just now.
std::string locate_usps(const DataOptions& options, bool* downloaded = nullptr);

// Splits a seeded `fraction` of `all` off as validation; both keep the file's order.
void split_validation(const Dataset& all, double fraction, uint64_t seed, Dataset& train,
                      Dataset& val);

// Downloads zip.train.gz and zip.test.gz into `dir` unless present, each verified
// against the published SHA-256 before it takes its final name. The base address can
// be replaced with $SGDLAB_USPS_MIRROR (any URL the curl program reads, file://
// included).
void download_usps(const std::string& dir);

// Hex SHA-256 of a file's bytes.
std::string sha256_file(const std::string& path);

}  // namespace sgdlab
