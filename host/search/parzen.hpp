#pragma once
// The Parzen estimators of TPE, after Optuna's _ParzenEstimator: one mixture component
// per observation plus a prior component; truncated normals for numeric parameters (in
// the internal space: log for log parameters), smoothed weighted counts for categorical.
#include <random>
#include <vector>

#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/space.hpp"

namespace sgdlab::tpe {

// Optuna's default_weights: ones, with a linear ramp down for the oldest past 25.
std::vector<double> default_weights(size_t n);

class ParzenEstimator {
 public:
  // observations[i][p]: trial i's internal value of params[p]; weights per observation.
  ParzenEstimator(const std::vector<const ParamSpec*>& params,
                  const std::vector<std::vector<double>>& observations,
                  const std::vector<double>& weights, const TpeOptions& options);

  std::vector<double> sample(std::mt19937_64& rng) const;
  double log_pdf(const std::vector<double>& x) const;

 private:
  struct Numeric {
    double low = 0, high = 0;
    std::vector<double> mu, sigma;
  };
  struct Categorical {
    std::vector<std::vector<double>> probs;  // [component][choice]
  };
  struct Component {
    bool categorical = false;
    Numeric numeric;
    Categorical cat;
  };
  std::vector<double> log_weights_;
  std::vector<Component> dists_;
};

double truncnorm_log_pdf(double x, double mu, double sigma, double low, double high);
double truncnorm_sample(double mu, double sigma, double low, double high, std::mt19937_64& rng);

}  // namespace sgdlab::tpe
