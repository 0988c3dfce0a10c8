// The model file: model_from_json on what nlohmann parses of the input, and load_model on
// the input as a file. A model that is accepted must come back the same from its own
// model_to_json (model_file.hpp promises it).
#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/model_file.hpp"

namespace {

void check_round_trip(const sgdlab::ModelSpec& m) {
  FUZZ_CHECK(!m.layers.empty());
  const sgdlab::ModelSpec again = sgdlab::model_from_json(sgdlab::model_to_json(m), "round trip");
  FUZZ_CHECK(again.name == m.name && again.classes == m.classes);
  FUZZ_CHECK(again.input.C == m.input.C && again.input.H == m.input.H &&
             again.input.W == m.input.W);
  FUZZ_CHECK(again.layers == m.layers);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sgdlab::fuzz::TempFile file("model", ".json");
  const std::string text = sgdlab::fuzz::text_of(data, size);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    try {
      check_round_trip(sgdlab::model_from_json(j, "fuzz.json"));
    } catch (const sgdlab::InputError&) {
    }
  }
  try {
    check_round_trip(sgdlab::load_model(file.write(data, size)));
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
