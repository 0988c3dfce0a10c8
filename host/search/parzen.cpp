#include "parzen.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sgdlab/core/error.hpp"

namespace sgdlab::tpe {

std::vector<double> default_weights(size_t n) {
  if (n < 25) return std::vector<double>(n, 1.0);
  std::vector<double> w;
  const size_t ramp = n - 25;
  for (size_t i = 0; i < ramp; ++i)
    w.push_back(ramp == 1
                    ? 1.0 / double(n)
                    : 1.0 / double(n) + (1.0 - 1.0 / double(n)) * double(i) / double(ramp - 1));
  w.insert(w.end(), 25, 1.0);
  return w;
}

namespace {

double log_normal_cdf_interval(double a, double b) {
  // P(a < Z < b) for a standard normal, with erfc for accuracy in the tails.
  const double pa = 0.5 * std::erfc(-a / std::sqrt(2.0)), pb = 0.5 * std::erfc(-b / std::sqrt(2.0));
  return std::log(std::max(pb - pa, 1e-300));
}

double logsumexp(const std::vector<double>& v) {
  const double m = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

}  // namespace

double truncnorm_log_pdf(double x, double mu, double sigma, double low, double high) {
  if (x < low || x > high) return -INFINITY;
  const double z = (x - mu) / sigma;
  return -0.5 * z * z - std::log(sigma * std::sqrt(2.0 * M_PI)) -
         log_normal_cdf_interval((low - mu) / sigma, (high - mu) / sigma);
}

double truncnorm_sample(double mu, double sigma, double low, double high, std::mt19937_64& rng) {
  // Rejection from the normal: components are centred inside [low, high] with sigma at
  // most the range, so acceptance stays high; the clamp is a last resort.
  std::normal_distribution<double> normal(mu, sigma);
  for (int i = 0; i < 1000; ++i) {
    const double x = normal(rng);
    if (x >= low && x <= high) return x;
  }
  return std::clamp(mu, low, high);
}

ParzenEstimator::ParzenEstimator(const std::vector<const ParamSpec*>& params,
                                 const std::vector<std::vector<double>>& observations,
                                 const std::vector<double>& weights, const TpeOptions& opt) {
  const size_t n = observations.size();
  SGDLAB_CHECK(weights.size() == n, "one weight per observation");
  std::vector<double> w = weights;
  w.push_back(opt.prior_weight);  // the prior component
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double x : w) log_weights_.push_back(std::log(x / total));
  const size_t kernels = n + 1;

  for (size_t p = 0; p < params.size(); ++p) {
    const ParamSpec& spec = *params[p];
    Component d;
    if (spec.dist == sgdlab::Dist::Categorical) {
      d.categorical = true;
      const size_t choices = spec.choices.size();
      for (size_t i = 0; i < kernels; ++i) {
        // Each observation puts 1 on its choice over a floor of prior_weight / kernels;
        // the prior component is that floor alone: uniform.
        std::vector<double> probs(choices, opt.prior_weight / double(kernels));
        if (i < n) probs[size_t(std::lround(observations[i][p]))] += 1.0;
        const double s = std::accumulate(probs.begin(), probs.end(), 0.0);
        for (double& x : probs) x /= s;
        d.cat.probs.push_back(probs);
      }
    } else {
      const double low = spec.internal_low(), high = spec.internal_high(), range = high - low;
      Numeric& num = d.numeric;
      num.low = low;
      num.high = high;
      for (size_t i = 0; i < n; ++i) num.mu.push_back(observations[i][p]);
      std::vector<double> sigma(n);
      if (opt.multivariate) {
        const double s =
            0.2 * std::pow(double(std::max<size_t>(n, 1)), -1.0 / (double(params.size()) + 4)) *
            range;
        std::fill(sigma.begin(), sigma.end(), s);
      } else if (n > 0) {
        // Each point's bandwidth is its larger gap to a neighbour, the prior's centre
        // counting as a point and the bounds as the outer neighbours.
        std::vector<double> mus = num.mu;
        mus.push_back(0.5 * (low + high));
        std::vector<size_t> order(mus.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return mus[a] < mus[b]; });
        std::vector<double> ends{low};
        for (size_t i : order) ends.push_back(mus[i]);
        ends.push_back(high);
        std::vector<double> sorted_sigma(mus.size());
        for (size_t i = 0; i < mus.size(); ++i)
          sorted_sigma[i] = std::max(ends[i + 1] - ends[i], ends[i + 2] - ends[i + 1]);
        if (!opt.consider_endpoints && ends.size() >= 4) {
          sorted_sigma.front() = ends[2] - ends[1];
          sorted_sigma.back() = ends[ends.size() - 2] - ends[ends.size() - 3];
        }
        for (size_t rank = 0; rank < order.size(); ++rank)
          if (order[rank] < n) sigma[order[rank]] = sorted_sigma[rank];
      }
      const double max_sigma = range;
      const double min_sigma =
          opt.consider_magic_clip ? range / std::min(100.0, 1.0 + double(kernels)) : 1e-12;
      for (double& s : sigma) s = std::clamp(s, min_sigma, std::max(max_sigma, min_sigma));
      num.sigma = sigma;
      num.mu.push_back(0.5 * (low + high));
      num.sigma.push_back(std::max(range, 1e-12));
      // A degenerate range (low == high) keeps a tiny positive bandwidth.
      for (double& s : num.sigma) s = std::max(s, 1e-12);
    }
    dists_.push_back(std::move(d));
  }
}

std::vector<double> ParzenEstimator::sample(std::mt19937_64& rng) const {
  std::vector<double> probs;
  for (double lw : log_weights_) probs.push_back(std::exp(lw));
  std::discrete_distribution<size_t> pick(probs.begin(), probs.end());
  const size_t k = pick(rng);
  std::vector<double> x;
  for (const Component& d : dists_) {
    if (d.categorical) {
      std::discrete_distribution<size_t> choice(d.cat.probs[k].begin(), d.cat.probs[k].end());
      x.push_back(double(choice(rng)));
    } else {
      const Numeric& n = d.numeric;
      x.push_back(n.high > n.low ? truncnorm_sample(n.mu[k], n.sigma[k], n.low, n.high, rng)
                                 : n.low);
    }
  }
  return x;
}

double ParzenEstimator::log_pdf(const std::vector<double>& x) const {
  std::vector<double> terms(log_weights_);
  for (size_t p = 0; p < dists_.size(); ++p) {
    const Component& d = dists_[p];
    for (size_t k = 0; k < terms.size(); ++k) {
      if (d.categorical) {
        terms[k] += std::log(d.cat.probs[k][size_t(std::lround(x[p]))]);
      } else if (d.numeric.high > d.numeric.low) {
        terms[k] += truncnorm_log_pdf(x[p], d.numeric.mu[k], d.numeric.sigma[k], d.numeric.low,
                                      d.numeric.high);
      }
    }
  }
  return logsumexp(terms);
}

}  // namespace sgdlab::tpe
