// The USPS reader (read_usps_file): ESL text, plain or gzip, read from a file. Each input
// is read twice, as 256-pixel lines (the real files) and as 4-pixel lines (so that short
// inputs reach the end of a valid file too).
#include <cmath>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sgdlab::fuzz::TempFile file("usps");
  const std::string& path = file.write(data, size);
  for (int features : {256, 4}) {
    try {
      const sgdlab::Dataset d = sgdlab::read_usps_file(path, features);
      FUZZ_CHECK(d.features == features);
      FUZZ_CHECK(!d.y.empty());
      FUZZ_CHECK(d.x.size() == d.y.size() * size_t(features));
      for (int32_t y : d.y) FUZZ_CHECK(y >= 0 && y <= 9);
      for (float v : d.x) FUZZ_CHECK(std::isfinite(v) && v >= -1.0f && v <= 1.0f);
    } catch (const sgdlab::InputError&) {
    }
  }
  return 0;
}
