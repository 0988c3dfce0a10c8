#pragma once
// Batch normalisation's per-channel arithmetic, one body for both backends (the
// reductions that feed it are each backend's own, in a fixed order, in double).
// PyTorch's BatchNorm1d/2d: training normalises with the batch's mean and biased
// variance and moves the running statistics by `momentum`, the variance's unbiased;
// evaluation normalises with the running statistics.
#include <math.h>

#include <cstddef>

#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

// y = x * scale + shift: the normalisation and the affine step in one.
template <class S>
struct BatchNormAffine {
  S scale, shift, invstd;
};

template <class S>
SGDLAB_HD BatchNormAffine<S> batchnorm_affine(S gamma, S beta, S mean, S var, S eps) {
  BatchNormAffine<S> a;
  a.invstd = S(1) / sqrt(var + eps);
  a.scale = gamma * a.invstd;
  a.shift = beta - mean * a.scale;
  return a;
}

// A Training lane's running statistics after a step over n values per channel.
template <class S>
SGDLAB_HD void batchnorm_track(S mean, S biased_var, size_t n, S momentum, S& running_mean,
                               S& running_var) {
  const S unbiased = biased_var * S(double(n) / double(n - 1));
  running_mean = (S(1) - momentum) * running_mean + momentum * mean;
  running_var = (S(1) - momentum) * running_var + momentum * unbiased;
}

// dL/dx of one value from the channel's sums over its n values: mean_dy = sum(dy) / n,
// mean_dy_xhat = sum(dy * xhat) / n, with xhat = (x - mean) * invstd.
template <class S>
SGDLAB_HD S batchnorm_dx(S dy, S x, S mean, const BatchNormAffine<S>& a, S mean_dy,
                         S mean_dy_xhat) {
  const S xhat = (x - mean) * a.invstd;
  return a.scale * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace sgdlab
