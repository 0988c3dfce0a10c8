// The search-space JSON: SearchSpace::from_json on what nlohmann parses of the input,
// SearchSpace::load on the input as a file (which also takes a narrowed space file's
// {"space": ...} and refuses duplicate keys and trailing text), and from_argument on it
// as an inline --space '{...}'. A space that is accepted must be accepted again from its
// own to_json, and check_space_fits must answer for it with a verdict or an InputError.
#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/search/space.hpp"

namespace {

void check_accepted(const sgdlab::SearchSpace& s) {
  for (size_t train_size : {size_t(0), size_t(7), size_t(5833)}) {
    try {
      sgdlab::check_space_fits(s, train_size, "fits");
    } catch (const sgdlab::InputError&) {
    }
  }
  const sgdlab::SearchSpace again = sgdlab::SearchSpace::from_json(s.to_json(), "round trip");
  FUZZ_CHECK(again.params().size() == s.params().size());
  for (size_t i = 0; i < s.params().size(); ++i) {
    const auto &a = s.params()[i], &b = again.params()[i];
    FUZZ_CHECK(a.name == b.name && a.dist == b.dist && a.choices == b.choices);
    FUZZ_CHECK(a.dist == sgdlab::Dist::Categorical || (a.low == b.low && a.high == b.high));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sgdlab::fuzz::TempFile file("space", ".json");
  const std::string text = sgdlab::fuzz::text_of(data, size);
  // Invalid JSON is nlohmann's to refuse (load turns it into an InputError, below).
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    try {
      check_accepted(sgdlab::SearchSpace::from_json(j, "fuzz.json"));
    } catch (const sgdlab::InputError&) {
    }
  }
  try {
    check_accepted(sgdlab::SearchSpace::load(file.write(data, size)));
  } catch (const sgdlab::InputError&) {
  }
  // Inline JSON only: any other argument is a path, and the fuzzer's bytes are no path.
  if (sgdlab::SearchSpace::argument_source(text) == "--space") {
    try {
      check_accepted(sgdlab::SearchSpace::from_argument(text));
    } catch (const sgdlab::InputError&) {
    }
  }
  return 0;
}
