#include "sgdlab/core/error.hpp"
#include "sgdlab/search/sampler.hpp"

namespace sgdlab {

std::mt19937_64 trial_rng(uint64_t seed, int number) {
  // splitmix64 of the pair, so neighbouring seeds and numbers give unrelated streams.
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + uint64_t(number) + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return std::mt19937_64(z ^ (z >> 31));
}

ParamValues sample_uniformly(const SearchSpace& space, std::mt19937_64& rng) {
  ParamValues out;
  for (const auto& p : space.params()) {
    if (p.dist == Dist::Categorical) {
      std::uniform_int_distribution<size_t> pick(0, p.choices.size() - 1);
      out[p.name] = p.choices[pick(rng)];
    } else {
      std::uniform_real_distribution<double> u(p.internal_low(), p.internal_high());
      out[p.name] = p.from_internal(u(rng));
    }
  }
  return out;
}

namespace {

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "random"; }
  ParamValues sample(const SearchSpace& space, const std::vector<Trial>&, int number) override {
    auto rng = trial_rng(seed_, number);
    return sample_uniformly(space, rng);
  }

 private:
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Sampler> make_random_sampler(uint64_t seed) {
  return std::make_unique<RandomSampler>(seed);
}

std::unique_ptr<Sampler> make_sampler(const std::string& name, uint64_t seed, TpeOptions options) {
  if (name == "random") return make_random_sampler(seed);
  if (name == "tpe") return make_tpe_sampler(seed, options);
  SGDLAB_INPUT_ERROR("--sampler: expected random or tpe, got '", name, "'");
}

}  // namespace sgdlab
