// A lane's named settings (sgdlab::lane_settings_from, engine/lane_options.hpp), as the
// Python module passes them: a JSON object, parsed by nlohmann first. Whatever it
// accepts, training accepts too, and its schedule is the run's.
#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/lane_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = sgdlab::fuzz::text_of(data, size);
  const nlohmann::json options = nlohmann::json::parse(text, nullptr, false);
  if (options.is_discarded()) return 0;
  try {
    const sgdlab::LaneSettings lane = sgdlab::lane_settings_from(options, 20, "lane");
    sgdlab::validate(lane);  // throws if the promise is broken: not an InputError expected
    const sgdlab::Hyperparameter* which = nullptr;
    FUZZ_CHECK(sgdlab::lane_refusal(lane, &which).empty());
    FUZZ_CHECK(lane.schedule.epochs == 20);
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
