#include "sgdlab/engine/stats.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

// Compared directly rather than through the deviations from the mean, because the mean
// of equal values is not always that value (three 0.1s average to 0.10000000000000002),
// which would leave a spread of 1e-17 where there is none.
bool all_equal(const std::vector<double>& v) {
  return std::adjacent_find(v.begin(), v.end(), std::not_equal_to<>()) == v.end();
}

}  // namespace

double mean(const std::vector<double>& v) {
  return v.empty() ? NAN : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2 || all_equal(v)) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  SGDLAB_CHECK(x.size() == y.size(), "paired samples");
  if (all_equal(x) || all_equal(y)) return NAN;
  const double mx = mean(x), my = mean(y);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return NAN;  // distinct values too close for their squares
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace sgdlab
