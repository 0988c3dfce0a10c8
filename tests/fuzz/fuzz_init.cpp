// The --init parser (sgdlab::cli::parse_init, host/cli/common.hpp), then the lane check
// that train runs after it (validate). The input is the flag's value. CMake builds this
// target only where host/cli/common.hpp declares parse_init.
#include <cmath>

#include "common.hpp"
#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/trainer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = sgdlab::fuzz::text_of(data, size);
  sgdlab::LaneSettings lane;
  try {
    sgdlab::cli::parse_init(text, lane);
    sgdlab::validate(lane);
    FUZZ_CHECK(lane.init == sgdlab::InitKind::Xavier || lane.init == sgdlab::InitKind::Uniform);
    FUZZ_CHECK(lane.init == sgdlab::InitKind::Xavier || text.rfind("uniform:", 0) == 0);
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
