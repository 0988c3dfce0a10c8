#pragma once
// Batch normalisation on [B, T, C, HW] (sgdlab/core/batchnorm.hpp has the arithmetic).
// Each lane-channel's sums run over b, then the plane, in double, in one fixed order;
// backward sums the forward's statistics again from its input instead of keeping them.
#include <cstddef>

#include "sgdlab/core/batchnorm.hpp"
#include "sgdlab/core/lane_state.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

struct BatchMoments {
  double mean, var;  // the biased variance
};

// Calls f(index) for each of lane t's channel c's values, in the order of the sums.
template <class F>
void for_each_in_channel(const BatchNormDims& d, int t, int c, F&& f) {
  for (int b = 0; b < d.B; ++b) {
    const size_t first = ((size_t(b) * d.T + t) * d.C + c) * d.HW;
    for (int i = 0; i < d.HW; ++i) f(first + i);
  }
}

// The sum of f(index) over lane t's channel c, in double and in one fixed order: eight
// partial sums along each plane's run (vectorisable), added plane by plane.
template <class F>
double channel_sum(const BatchNormDims& d, int t, int c, F&& f) {
  double total = 0;
  for (int b = 0; b < d.B; ++b) {
    const size_t first = ((size_t(b) * d.T + t) * d.C + c) * d.HW;
    double part[8] = {};
    int i = 0;
    for (; i + 8 <= d.HW; i += 8)
      for (int u = 0; u < 8; ++u) part[u] += f(first + i + u);
    for (; i < d.HW; ++i) part[0] += f(first + i);
    for (int u = 0; u < 8; ++u) total += part[u];
  }
  return total;
}

template <class S>
BatchMoments batch_moments(const BatchNormDims& d, const S* x, int t, int c) {
  const double n = double(d.values());
  const double mean = channel_sum(d, t, c, [&](size_t i) { return double(x[i]); }) / n;
  const double sq = channel_sum(d, t, c, [&](size_t i) {
    const double e = double(x[i]) - mean;
    return e * e;
  });
  return {mean, sq / n};
}

// Training: batch statistics, and the running ones moved for Training lanes (state may
// be null: every lane); evaluation: the running statistics.
template <class S>
void batchnorm_forward(const BatchNormDims& d, bool training, const LaneState* state,
                       const BatchNormTensorsOf<S>& p, const S* x, S* y) {
  const int channels = d.T * d.C;
#pragma omp parallel for schedule(static) if (size_t(channels) * d.values() > 16384)
  for (int tc = 0; tc < channels; ++tc) {
    const int t = tc / d.C, c = tc % d.C;
    S mean = p.running_mean[tc], var = p.running_var[tc];
    if (training) {
      const BatchMoments m = batch_moments(d, x, t, c);
      mean = S(m.mean);
      var = S(m.var);
      if (!state || state[t] == LaneState::Training)
        batchnorm_track(mean, var, d.values(), S(d.momentum), p.running_mean[tc],
                        p.running_var[tc]);
    }
    const BatchNormAffine<S> a = batchnorm_affine(p.gamma[tc], p.beta[tc], mean, var, S(d.eps));
    for_each_in_channel(d, t, c, [&](size_t i) { y[i] = x[i] * a.scale + a.shift; });
  }
  if (training)
    for (int t = 0; t < d.T; ++t)
      if (!state || state[t] == LaneState::Training) p.tracked[t] += S(1);
}

// The training forward's gradients: dx (null: not wanted), dgamma and dbeta [T, C]
// (overwritten).
template <class S>
void batchnorm_backward(const BatchNormDims& d, const S* x, const S* gamma, const S* dy, S* dx,
                        S* dgamma, S* dbeta) {
  const int channels = d.T * d.C;
#pragma omp parallel for schedule(static) if (size_t(channels) * d.values() > 16384)
  for (int tc = 0; tc < channels; ++tc) {
    const int t = tc / d.C, c = tc % d.C;
    const BatchMoments m = batch_moments(d, x, t, c);
    const S mean = S(m.mean);
    const BatchNormAffine<S> a = batchnorm_affine(gamma[tc], S(0), mean, S(m.var), S(d.eps));
    const double sum_dy = channel_sum(d, t, c, [&](size_t i) { return double(dy[i]); });
    const double sum_dy_xhat = channel_sum(
        d, t, c, [&](size_t i) { return double(dy[i]) * double((x[i] - mean) * a.invstd); });
    dgamma[tc] = S(sum_dy_xhat);
    dbeta[tc] = S(sum_dy);
    if (!dx) continue;
    const S mean_dy = S(sum_dy / double(d.values()));
    const S mean_dy_xhat = S(sum_dy_xhat / double(d.values()));
    for_each_in_channel(d, t, c, [&](size_t i) {
      dx[i] = batchnorm_dx(dy[i], x[i], mean, a, mean_dy, mean_dy_xhat);
    });
  }
}

}  // namespace sgdlab::cpu
