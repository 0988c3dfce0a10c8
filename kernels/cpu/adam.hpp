#pragma once
// Adam and AdamW (adam_update.hpp) over the flat parameter buffer, each lane with its
// own lr, betas, eps and, when given, weight decay (weights only); lanes that are not
// Training, and slices that are not trained, are left untouched. `t` is the update's
// number, 1 for the first.
#include <cstddef>
#include <vector>

#include "sgdlab/core/adam_update.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void adam(const AdamDims& d, const LaneArrays& lanes, int64_t t, S* params, const S* grads, S* m,
          S* v) {
  // Once per lane and step (biases take no decay: the decay term then goes unused).
  std::vector<AdamFactors> factors;
  for (int k = 0; k < d.T; ++k)
    factors.push_back(adam_factors(lanes.lr[k], lanes.adam[3 * k], lanes.adam[3 * k + 1],
                                   lanes.weight_decay ? lanes.weight_decay[k] : 0.0f, t));
  for (int s = 0; s < d.n_slices; ++s) {
    const ParamSlice& sl = d.slices[s];
    if (sl.flags & kSliceNotTrained) continue;
    const size_t per_lane = sl.count / d.T;
    for (int k = 0; k < d.T; ++k) {
      if (lanes.state[k] != LaneState::Training) continue;
      const float* a = lanes.adam + 3 * k;
      const float wd = lanes.weight_decay && !(sl.flags & kSliceIsBias) ? lanes.weight_decay[k] : 0;
      const AdamFactors& f = factors[k];
      const size_t begin = sl.offset + size_t(k) * per_lane;
      // Elementwise: the threads change no value, only who computes it.
#pragma omp parallel for schedule(static) if (per_lane > 32768)
      for (size_t i = begin; i < begin + per_lane; ++i)
        adam_update(params[i], m[i], v[i], grads[i], S(a[0]), S(a[1]), S(a[2]), S(wd), d.decoupled,
                    f);
    }
  }
}

}  // namespace sgdlab::cpu
