// The IDX (MNIST) reader (read_idx): one input holds both files. Its first two bytes are
// the length L of the labels file (little-endian, cut to what follows); the next L bytes
// are the labels file, the rest the images file. Either may be raw or gzip.
#include <algorithm>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sgdlab::fuzz::TempFile images("idx-images"), labels("idx-labels");
  if (size < 2) return 0;
  const size_t label_bytes = std::min<size_t>(size_t(data[0]) | size_t(data[1]) << 8, size - 2);
  labels.write(data + 2, label_bytes);
  images.write(data + 2 + label_bytes, size - 2 - label_bytes);
  try {
    const sgdlab::Dataset d = sgdlab::read_idx(images.path(), labels.path());
    FUZZ_CHECK(d.from_uint8);
    FUZZ_CHECK(d.image.C == 1 && d.image.H > 0 && d.image.W > 0);
    FUZZ_CHECK(d.features == int(d.image.size()));
    FUZZ_CHECK(!d.y.empty());
    FUZZ_CHECK(d.x.size() == d.y.size() * size_t(d.features));
    for (int32_t y : d.y) FUZZ_CHECK(y >= 0 && y <= 255);
    for (float v : d.x) FUZZ_CHECK(v >= 0.0f && v <= 255.0f);
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
