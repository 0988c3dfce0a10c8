#pragma once
// The data formats --data reads besides the USPS text files, how a path's format is
// recognised, and how the pixels are scaled.
//
//   usps  a folder with zip.train.gz and zip.test.gz (ESL text), values kept as they are
//   idx   a folder with the MNIST files train-images-idx3-ubyte, train-labels-idx1-ubyte,
//         t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz (Fashion-MNIST,
//         KMNIST and EMNIST use the same format)
//   npz   a NumPy .npz file with x_train, y_train, x_test, y_test: uint8 or float32
//         images [N, H, W], [N, C, H, W] or (nhwc) [N, H, W, C], integer labels
//
// uint8 pixels are scaled to [0, 1]; --normalize standard then subtracts the training
// set's mean and divides by its standard deviation, per channel.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sgdlab/engine/data.hpp"

namespace sgdlab {

enum class DataFormat { Auto, Usps, Idx, Npz };

// "auto", "usps", "idx" or "npz"; throws InputError naming --format otherwise.
DataFormat parse_data_format(const std::string& name);
std::string data_format_name(DataFormat f);

// The format of a path as found on disk; throws InputError when none fits.
DataFormat detect_data_format(const std::string& path);

// One split of an IDX data set: images (ubyte, [N, H, W]) and labels (ubyte, [N]), raw
// or gzip. Pixel values are kept as 0..255; Dataset::from_uint8 says so.
Dataset read_idx(const std::string& images_path, const std::string& labels_path);
// The IDX files of `split` ("train" or "test") in a folder.
Dataset read_idx_split(const std::string& dir, const std::string& split);
// The paths of those files, images then labels, as read_idx_split reads them.
std::pair<std::string, std::string> idx_split_files(const std::string& dir,
                                                    const std::string& split);

// x_<split> and y_<split> of a .npz file; `nhwc`: the images are [N, H, W, C].
Dataset read_npz_split(const std::string& path, const std::string& split, bool nhwc);

// A C-ordered array in memory as NumPy describes it: its dtype code ("|u1", "<f4",
// "<i8", ...), its shape, and its bytes (at least the shape's; not owned).
struct ArrayView {
  std::string dtype;
  std::vector<uint64_t> shape;
  std::string_view data;
  uint64_t count() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    return n;
  }
};

// Images (uint8 or float32, [N, H, W], [N, C, H, W] or with `nhwc` [N, H, W, C]) and
// integer labels [N] as a Dataset, checked as the .npz reader checks them (it reads
// through this); errors name the arrays x_name and y_name. The pixels are copied once,
// into float32 [N, C, H, W].
Dataset dataset_from_arrays(const ArrayView& x, const ArrayView& y, bool nhwc,
                            const std::string& x_name, const std::string& y_name);

// A training and a test set read by any means, made into the splits training uses as
// load_dataset makes them from files: a seeded validation split of options.val_fraction,
// the scaling (uint8 divided by 255; options.standard), and the checks. `source` names
// the data in messages.
UspsData dataset_from_splits(const Dataset& train, Dataset test, const DataOptions& options,
                             const std::string& source, const std::string& format);

// Reads the data --data names in any format (detected unless options.format says),
// scales it, and splits validation off the training set. For USPS, as load_usps.
UspsData load_dataset(const DataOptions& options);

// The test split of --data (any format; recognised unless options.format says), as it
// is in the files: for predicting with a checkpoint, which brings its own scaling.
Dataset load_test_split(const DataOptions& options);

// Divides by scaling.divide, then standardises each channel when mean is not empty.
void apply_scaling(Dataset& d, const Scaling& scaling);

// The scaling a data set gets: divide uint8 pixels by 255; with `standard`, the mean
// and standard deviation of each channel of `train` after that.
Scaling choose_scaling(const Dataset& train, bool standard);

}  // namespace sgdlab
