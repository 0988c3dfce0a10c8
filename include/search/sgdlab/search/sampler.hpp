#pragma once
// Samplers propose the parameters of trial `number` from the study's history. They
// maximise the trial value. A sampler's draw depends only on its seed, the trial
// number and the history, so a resumed or shared study samples reproducibly.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sgdlab/search/space.hpp"
#include "sgdlab/search/trial.hpp"

namespace sgdlab {

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::string name() const = 0;
  virtual ParamValues sample(const SearchSpace& space, const std::vector<Trial>& history,
                             int number) = 0;
};

// Optuna's TPESampler defaults (Optuna 3/4): 10 startup trials, gamma(n) = min(ceil(0.1 n),
// 25), 24 expected-improvement candidates, prior weight 1, magic clip on, endpoints off,
// Parzen estimators in log space for log parameters, categorical choices by weighted
// counts, older trials down-weighted past 25 observations. With constant_liar, running
// trials count among the worse group, so that trials asked together spread out.
struct TpeOptions {
  int n_startup_trials = 10;
  int n_ei_candidates = 24;
  double prior_weight = 1.0;
  bool multivariate = false;
  bool constant_liar = true;
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
};

std::unique_ptr<Sampler> make_random_sampler(uint64_t seed);
std::unique_ptr<Sampler> make_tpe_sampler(uint64_t seed, TpeOptions options = {});
// "random" or "tpe"; throws InputError otherwise.
std::unique_ptr<Sampler> make_sampler(const std::string& name, uint64_t seed,
                                      TpeOptions options = {});

// The generator a sampler uses for trial `number`: a function of (seed, number) alone.
std::mt19937_64 trial_rng(uint64_t seed, int number);
// One uniform draw of every parameter (log-uniform in log space).
ParamValues sample_uniformly(const SearchSpace& space, std::mt19937_64& rng);

}  // namespace sgdlab
