#pragma once
// SGD with momentum (PyTorch's form, sgd_update.hpp) over the flat parameter buffer,
// with each lane's lr, momentum and, when given, weight decay (weights only) and
// Nesterov flag; lanes that are not Training, and slices that are not trained
// (kSliceNotTrained), are left untouched.
#include <cstddef>

#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/sgd_update.hpp"

namespace sgdlab::cpu {

template <class S>
void sgd_momentum(const ParamSlice* slices, int n_slices, int T, const float* lr,
                  const float* momentum, const LaneState* state, S* params, const S* grads,
                  S* velocity, const float* weight_decay = nullptr,
                  const int32_t* nesterov = nullptr) {
  for (int s = 0; s < n_slices; ++s) {
    if (slices[s].flags & kSliceNotTrained) continue;
    const size_t per_lane = slices[s].count / T;
    for (int t = 0; t < T; ++t) {
      if (state[t] != LaneState::Training) continue;
      const S rate = lr[t], mu = momentum[t];
      const S wd = weight_decay && !(slices[s].flags & kSliceIsBias) ? S(weight_decay[t]) : S(0);
      const bool nag = nesterov && nesterov[t];
      const size_t begin = slices[s].offset + size_t(t) * per_lane;
      for (size_t i = begin; i < begin + per_lane; ++i)
        sgd_update(params[i], velocity[i], grads[i], rate, mu, wd, nag);
    }
  }
}

}  // namespace sgdlab::cpu
