#pragma once
// SGD with momentum (PyTorch's form: v = mu*v + g; p -= lr*v) over the flat parameter
// buffer, with each lane's lr and momentum; lanes that are not Training are left untouched.
#include <cstddef>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void sgd_momentum(const ParamSlice* slices, int n_slices, int T, const float* lr,
                  const float* momentum, const LaneState* state, S* params, const S* grads,
                  S* velocity) {
  for (int s = 0; s < n_slices; ++s) {
    const size_t per_lane = slices[s].count / T;
    for (int t = 0; t < T; ++t) {
      if (state[t] != LaneState::Training) continue;
      const S rate = lr[t], mu = momentum[t];
      const size_t begin = slices[s].offset + size_t(t) * per_lane;
      for (size_t i = begin; i < begin + per_lane; ++i) {
        velocity[i] = mu * velocity[i] + grads[i];
        params[i] -= rate * velocity[i];
      }
    }
  }
}

}  // namespace sgdlab::cpu
