// The data set uploaded once to a backend (trainer.hpp: DeviceData).
#include <algorithm>
#include <numeric>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/distort.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

DeviceData::DeviceData(Backend& backend, const UspsData& data, const Distortion& distorted_val)
    : features_(data.train.features), image_(data.train.image), distortion_(distorted_val) {
  auto upload = [&](Part& part, const Dataset& d) {
    SGDLAB_CHECK(d.features == features_, "every split has ", features_, " features");
    part.n = d.size();
    part.x = Buffer<float>(backend, d.x.size());
    part.x.upload(d.x);
    part.y = Buffer<int32_t>(backend, d.y.size());
    part.y.upload(d.y);
    for (int32_t label : d.y) max_label_ = std::max(max_label_, label);
  };
  upload(train_, data.train);
  if (!data.train.x.empty())
    background_ = *std::min_element(data.train.x.begin(), data.train.x.end());
  upload(val_, data.val);
  upload(test_, data.test);
  if (distortion_.copies > 0)
    upload(val_distorted_, distorted_copies(data.val, distortion_, background_));
  std::vector<uint32_t> iota(std::max({train_.n, val_.n, test_.n, val_distorted_.n}));
  std::iota(iota.begin(), iota.end(), 0u);
  identity_ = Buffer<uint32_t>(backend, iota.size());
  identity_.upload(iota);
}

const DeviceData::Part& DeviceData::part(Split s) const {
  switch (s) {
    case Split::Train:
      return train_;
    case Split::Val:
      return val_;
    case Split::Test:
      return test_;
    case Split::ValDistorted:
      SGDLAB_CHECK(has_distorted_val(), "data made with a distorted validation set");
      return val_distorted_;
  }
  SGDLAB_THROW("unknown split ", int(s));
}

}  // namespace sgdlab
