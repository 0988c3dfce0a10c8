#pragma once
// The parameters' moving average per lane (sgdlab/core/ema_update.hpp) over the flat
// buffer, every slice; lanes that are not Training keep theirs.
#include <cstddef>

#include "sgdlab/core/ema_update.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void ema_update(const FlatDims& d, const float* decay, const LaneState* state, bool first,
                const S* params, S* average) {
  for (int s = 0; s < d.n_slices; ++s) {
    const size_t per_lane = d.slices[s].count / d.T;
    for (int t = 0; t < d.T; ++t) {
      if (state[t] != LaneState::Training) continue;
      const size_t begin = d.slices[s].offset + size_t(t) * per_lane;
      const S k = S(decay[t]);
      for (size_t i = begin; i < begin + per_lane; ++i)
        ema_step(average[i], params[i], k, first || k == S(0));
    }
  }
}

}  // namespace sgdlab::cpu
