// --data in any format: recognising a path, loading its splits, scaling the pixels.
#include "sgdlab/engine/datasets.hpp"

#include <cmath>
#include <filesystem>
#include <utility>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace fs = std::filesystem;

DataFormat parse_data_format(const std::string& name) {
  if (name == "auto") return DataFormat::Auto;
  if (name == "usps") return DataFormat::Usps;
  if (name == "idx") return DataFormat::Idx;
  if (name == "npz") return DataFormat::Npz;
  SGDLAB_INPUT_ERROR("--format: expected auto, usps, idx or npz, got '", name, "'");
}

std::string data_format_name(DataFormat f) {
  switch (f) {
    case DataFormat::Usps:
      return "usps";
    case DataFormat::Idx:
      return "idx";
    case DataFormat::Npz:
      return "npz";
    default:
      return "auto";
  }
}

DataFormat detect_data_format(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    if (fs::path(path).extension() == ".npz") return DataFormat::Npz;
    SGDLAB_INPUT_ERROR("--data ", path, ": a file that is not .npz (expected a .npz file, or a ",
                       "folder with USPS or IDX files)");
  }
  if (!fs::is_directory(path, ec)) SGDLAB_INPUT_ERROR("--data ", path, ": no such file or folder");
  if (fs::is_regular_file(fs::path(path) / "zip.train.gz", ec)) return DataFormat::Usps;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find("idx3-ubyte") != std::string::npos) return DataFormat::Idx;
  }
  if (ec) SGDLAB_INPUT_ERROR("--data ", path, ": cannot read the folder (", ec.message(), ")");
  SGDLAB_INPUT_ERROR("--data ", path, ": found neither zip.train.gz (USPS) nor ",
                     "*-images-idx3-ubyte files (IDX); pass --format to say which it is");
}

nlohmann::json Scaling::to_json() const {
  nlohmann::json j = {{"divide", divide}};
  if (!mean.empty()) {
    j["mean"] = mean;
    j["std"] = stddev;
  }
  return j;
}

Scaling Scaling::from_json(const nlohmann::json& j, const std::string& source) {
  Scaling s;
  try {
    s.divide = j.at("divide").get<float>();
    if (j.contains("mean")) {
      s.mean = j.at("mean").get<std::vector<float>>();
      s.stddev = j.at("std").get<std::vector<float>>();
    }
  } catch (const nlohmann::json::exception&) {
    SGDLAB_INPUT_ERROR(source, ": expected a scaling {\"divide\": ..., \"mean\": [...], ",
                       "\"std\": [...]}, got ", j.dump());
  }
  if (!(s.divide > 0) || s.mean.size() != s.stddev.size())
    SGDLAB_INPUT_ERROR(source, ": invalid scaling ", j.dump());
  for (float v : s.stddev)
    if (!(v > 0)) SGDLAB_INPUT_ERROR(source, ": invalid scaling ", j.dump());
  return s;
}

void apply_scaling(Dataset& d, const Scaling& s) {
  if (!s.mean.empty() && s.mean.size() != size_t(d.image.C))
    SGDLAB_INPUT_ERROR("the scaling has ", s.mean.size(), " channels but the images have ",
                       d.image.C);
  const size_t plane = size_t(d.image.H) * d.image.W;
  for (size_t i = 0; i < d.x.size(); ++i) {
    float v = d.x[i] / s.divide;
    if (!s.mean.empty()) {
      const size_t c = (i / plane) % size_t(d.image.C);
      v = (v - s.mean[c]) / s.stddev[c];
    }
    d.x[i] = v;
  }
  d.from_uint8 = false;
}

Scaling choose_scaling(const Dataset& train, bool standard) {
  Scaling s;
  s.divide = train.from_uint8 ? 255.0f : 1.0f;
  if (!standard) return s;
  const size_t C = train.image.C, plane = size_t(train.image.H) * train.image.W;
  std::vector<double> sum(C, 0.0), sq(C, 0.0);
  for (size_t i = 0; i < train.x.size(); ++i) {
    const double v = train.x[i] / s.divide;
    sum[(i / plane) % C] += v;
    sq[(i / plane) % C] += v * v;
  }
  const double n = double(train.size()) * plane;
  for (size_t c = 0; c < C; ++c) {
    const double mean = sum[c] / n;
    const double var = std::max(sq[c] / n - mean * mean, 0.0);
    s.mean.push_back(float(mean));
    // A constant channel keeps its scale rather than dividing by zero.
    s.stddev.push_back(var > 1e-12 ? float(std::sqrt(var)) : 1.0f);
  }
  return s;
}

namespace {

// Every label a class index; a data set whose validation part came out empty is
// refused (its accuracy would read as NaN).
void check_splits(const UspsData& d) {
  for (const Dataset* part : {&d.train, &d.val, &d.test})
    if (part->size() == 0)
      SGDLAB_INPUT_ERROR("--data ", d.source, ": a split has no samples (", d.train.size(),
                         " training, ", d.val.size(), " validation, ", d.test.size(),
                         " test); the validation split takes 20% of the ", "training set");
}

}  // namespace

Dataset load_test_split(const DataOptions& options) {
  if (options.dir.empty()) SGDLAB_INPUT_ERROR("--data: expected a folder or .npz file");
  DataFormat format = parse_data_format(options.format);
  if (format == DataFormat::Auto) format = detect_data_format(options.dir);
  switch (format) {
    case DataFormat::Idx:
      return read_idx_split(options.dir, "test");
    case DataFormat::Npz:
      return read_npz_split(options.dir, "test", options.nhwc);
    default:
      return read_usps_file((fs::path(options.dir) / "zip.test.gz").string());
  }
}

UspsData load_dataset(const DataOptions& options) {
  DataFormat format = parse_data_format(options.format);
  if (format == DataFormat::Auto)
    format = options.dir.empty() ? DataFormat::Usps : detect_data_format(options.dir);
  if (format == DataFormat::Usps) {  // its values stay as they are unless standardised
    UspsData d = load_usps(options);
    if (options.standard) {
      d.scaling = choose_scaling(d.train, true);
      for (Dataset* part : {&d.train, &d.val, &d.test}) apply_scaling(*part, d.scaling);
    }
    check_splits(d);
    return d;
  }
  if (options.dir.empty()) SGDLAB_INPUT_ERROR("--format ", options.format, ": needs --data PATH");
  Dataset train = format == DataFormat::Idx ? read_idx_split(options.dir, "train")
                                            : read_npz_split(options.dir, "train", options.nhwc);
  Dataset test = format == DataFormat::Idx ? read_idx_split(options.dir, "test")
                                           : read_npz_split(options.dir, "test", options.nhwc);
  return dataset_from_splits(train, std::move(test), options, options.dir,
                             data_format_name(format));
}

UspsData dataset_from_splits(const Dataset& train, Dataset test, const DataOptions& options,
                             const std::string& source, const std::string& format) {
  UspsData d;
  d.source = source;
  d.format = format;
  d.test = std::move(test);
  if (d.test.image.C != train.image.C || d.test.image.H != train.image.H ||
      d.test.image.W != train.image.W)
    SGDLAB_INPUT_ERROR("--data ", source, ": the test images are not the training images' ",
                       "shape");
  split_validation(train, options.val_fraction, options.split_seed, d.train, d.val);
  d.scaling = choose_scaling(d.train, options.standard);
  for (Dataset* part : {&d.train, &d.val, &d.test}) apply_scaling(*part, d.scaling);
  check_splits(d);
  return d;
}

}  // namespace sgdlab
