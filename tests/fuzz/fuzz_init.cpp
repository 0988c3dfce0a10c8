// The --init parser (sgdlab::parse_init, engine/lane_options.hpp), then the lane check
// that train runs after it (validate). The input is the flag's value.
#include <cmath>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/lane_options.hpp"
#include "sgdlab/engine/trainer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = sgdlab::fuzz::text_of(data, size);
  sgdlab::LaneSettings lane;
  try {
    sgdlab::parse_init(text, lane);
    sgdlab::validate(lane);
    FUZZ_CHECK(lane.init == sgdlab::InitKind::Xavier || lane.init == sgdlab::InitKind::Uniform);
    FUZZ_CHECK(lane.init == sgdlab::InitKind::Xavier || text.rfind("uniform:", 0) == 0);
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
