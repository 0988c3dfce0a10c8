#pragma once
// One value's exponential moving average, as torch.optim.swa_utils.AveragedModel with
// get_ema_multi_avg_fn(decay): the first update copies the parameter, each later one
// moves the average by (1 - decay) of the way to it (PyTorch's lerp).
#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

template <class S>
SGDLAB_HD void ema_step(S& average, S p, S decay, bool first) {
  average = first ? p : average + (S(1) - decay) * (p - average);
}

}  // namespace sgdlab
