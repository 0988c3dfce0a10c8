#pragma once
// What makes two runs' data the same data, so that a resumed run or a study's workers
// can refuse other data: the SHA-256 of each file read, keyed by its name (a copy of the
// files, a relative path or a trailing slash is the same data), the format, the npz
// layout, the seed of the validation split, and the scaling (--normalize and the mean and
// standard deviation it computed).
#include <nlohmann/json.hpp>
#include <string>

#include "sgdlab/engine/data.hpp"

namespace sgdlab {

// The identity of `data` as load_dataset(options) read it.
nlohmann::json data_identity(const UspsData& data, const DataOptions& options);

// What differs between a stored identity and `now`, each part named, for example
// "data file zip.train.gz: SHA-256 3f2a9c0d1e2b... (the study has 66ebf231ab51...)";
// "" when they are the same. `holder` names the stored side ("the study").
std::string data_identity_difference(const nlohmann::json& stored, const nlohmann::json& now,
                                     const std::string& holder);

}  // namespace sgdlab
