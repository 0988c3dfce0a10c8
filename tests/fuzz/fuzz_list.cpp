// The comma-list parsers of the command line (engine/lane_options.cpp): parse_list, which
// --lr, --momentum and --dropout go through, and parse_uint_list (--seed, --split-seed).
// The input is the flag's value.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/lane_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = sgdlab::fuzz::text_of(data, size);
  const size_t items = size_t(std::count(text.begin(), text.end(), ',')) + 1;
  try {
    const std::vector<double> v = sgdlab::parse_list("--lr", text);
    FUZZ_CHECK(v.size() == items);
    // Each becomes a float: finite and within its range (1e308 would be inf).
    for (double x : v) FUZZ_CHECK(std::isfinite(x) && std::fabs(x) <= FLT_MAX);
  } catch (const sgdlab::InputError&) {
  }
  try {
    const std::vector<uint64_t> v = sgdlab::parse_uint_list("--seed", text);
    FUZZ_CHECK(v.size() == items);
    // Only decimal digits and the commas between them were accepted.
    for (char c : text) FUZZ_CHECK((c >= '0' && c <= '9') || c == ',');
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
