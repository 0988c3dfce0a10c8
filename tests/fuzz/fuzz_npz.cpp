// The NumPy .npz reader (read_npz_split): the input is the .npz (zip) file. It is read as
// the train split in both layouts and as the test split.
#include <cmath>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/datasets.hpp"

namespace {

void read(const std::string& path, const char* split, bool nhwc) {
  try {
    const sgdlab::Dataset d = sgdlab::read_npz_split(path, split, nhwc);
    FUZZ_CHECK(d.image.C > 0 && d.image.H > 0 && d.image.W > 0);
    FUZZ_CHECK(d.features == int(d.image.size()));
    FUZZ_CHECK(!d.y.empty());
    FUZZ_CHECK(d.x.size() == d.y.size() * size_t(d.features));
    for (int32_t y : d.y) FUZZ_CHECK(y >= 0);
    if (d.from_uint8)
      for (float v : d.x) FUZZ_CHECK(v >= 0.0f && v <= 255.0f);
  } catch (const sgdlab::InputError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sgdlab::fuzz::TempFile file("npz", ".npz");
  const std::string& path = file.write(data, size);
  read(path, "train", false);
  read(path, "train", true);
  read(path, "test", false);
  return 0;
}
