// The checkpoint readers: parse_safetensors on the input's bytes, and the model and
// resume checkpoint loaders on the input as a file. What the safetensors parser accepts
// must keep its promises (every tensor's data is as long as its shape says, the names
// are distinct) and come back the same from safetensors_bytes; an accepted model
// checkpoint must hold as many parameters as its model has.
#include <algorithm>
#include <cstring>
#include <set>

#include "fuzz_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/safetensors.hpp"

namespace {

void check_parsed(const sgdlab::SafetensorsFile& f) {
  std::set<std::string> names;
  for (const sgdlab::Tensor& t : f.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) {
      FUZZ_CHECK(d >= 0);
      n *= d;
    }
    FUZZ_CHECK(size_t(n) == t.data.size());
    FUZZ_CHECK(names.insert(t.name).second);
  }
  const std::string again = sgdlab::safetensors_bytes(f.tensors, f.metadata);
  const sgdlab::SafetensorsFile g = sgdlab::parse_safetensors(again, "round trip");
  FUZZ_CHECK(g.tensors.size() == f.tensors.size() && g.metadata == f.metadata);
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    FUZZ_CHECK(g.tensors[i].name == f.tensors[i].name);
    FUZZ_CHECK(g.tensors[i].shape == f.tensors[i].shape);
    // Bit patterns, not values: a NaN read back is the same NaN.
    FUZZ_CHECK(std::equal(g.tensors[i].data.begin(), g.tensors[i].data.end(),
                          f.tensors[i].data.begin(),
                          [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sgdlab::fuzz::TempFile file("checkpoint", ".safetensors");
  try {
    check_parsed(sgdlab::parse_safetensors(sgdlab::fuzz::text_of(data, size), "fuzz"));
  } catch (const sgdlab::InputError&) {
  }
  const std::string& path = file.write(data, size);
  try {
    const sgdlab::ModelCheckpoint c = sgdlab::load_model_checkpoint(path);
    FUZZ_CHECK(c.params.size() == sgdlab::NetworkPlan(c.model, 1).param_count());
  } catch (const sgdlab::InputError&) {
  }
  try {
    sgdlab::load_resume_checkpoint(path);
  } catch (const sgdlab::InputError&) {
  }
  return 0;
}
