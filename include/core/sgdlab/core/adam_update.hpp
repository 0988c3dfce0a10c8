#pragma once
// One parameter's Adam step, as torch.optim.Adam (amsgrad off) and, `decoupled`,
// torch.optim.AdamW: one body for both backends, with PyTorch's order of float
// operations. The per-lane, per-step factors come from adam_factors (double, as
// PyTorch's Python scalars, then float as its kernels take them).
#include <math.h>

#include <cstdint>

#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

struct AdamFactors {
  float step_size;     // lr / (1 - beta1^t)
  float bias2_sqrt;    // sqrt(1 - beta2^t)
  float one_minus_b1;  // 1 - beta1
  float one_minus_b2;  // 1 - beta2
  float decay_factor;  // AdamW: 1 - lr * wd
};

// At update t = 1, 2, ... of a lane.
SGDLAB_HD AdamFactors adam_factors(float lr, float beta1, float beta2, float wd, int64_t t) {
  AdamFactors f;
  f.step_size = float(double(lr) / (1.0 - pow(double(beta1), double(t))));
  f.bias2_sqrt = float(sqrt(1.0 - pow(double(beta2), double(t))));
  f.one_minus_b1 = float(1.0 - double(beta1));
  f.one_minus_b2 = float(1.0 - double(beta2));
  f.decay_factor = float(1.0 - double(lr) * double(wd));
  return f;
}

// wd: the lane's weight decay for this tensor (0 for biases): Adam adds wd * p to the
// gradient; AdamW (`decoupled`) multiplies p by 1 - lr * wd first.
template <class S>
SGDLAB_HD void adam_update(S& p, S& m, S& v, S g, S beta1, S beta2, S eps, S wd, bool decoupled,
                           const AdamFactors& f) {
  if (wd != S(0)) {
    if (decoupled)
      p *= S(f.decay_factor);
    else
      g += wd * p;
  }
  m = m * beta1 + S(f.one_minus_b1) * g;
  v = v * beta2 + S(f.one_minus_b2) * g * g;
  const S denom = sqrt(v) / S(f.bias2_sqrt) + eps;
  p = p + S(-f.step_size) * m / denom;
}

}  // namespace sgdlab
