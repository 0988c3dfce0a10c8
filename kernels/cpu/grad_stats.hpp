#pragma once
// Per-lane gradient statistics of one step, added to running sums: mean |g| and the
// L2 norm, per layer and over all trained parameters. Sums are in double and in a fixed order.
#include <cmath>
#include <cstddef>
#include <vector>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void grad_stats(const ParamSlice* slices, int n_slices, int n_layers, int T, const S* grads,
                S* accum) {
  const int stride = (n_layers + 1) * 2;
  std::vector<double> abs_sum(n_layers + 1), sq_sum(n_layers + 1), count(n_layers + 1);
  for (int t = 0; t < T; ++t) {
    std::fill(abs_sum.begin(), abs_sum.end(), 0.0);
    std::fill(sq_sum.begin(), sq_sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0.0);
    for (int s = 0; s < n_slices; ++s) {
      if (slices[s].flags & kSliceNotTrained) continue;  // state, not a parameter
      const size_t per_lane = slices[s].count / T;
      const S* g = grads + slices[s].offset + size_t(t) * per_lane;
      // Eight partial sums in a fixed pattern: vectorisable, and the same every run.
      double pa[8] = {}, pq[8] = {};
      size_t i = 0;
      for (; i + 8 <= per_lane; i += 8)
        for (int u = 0; u < 8; ++u) {
          const double v = double(g[i + u]);
          pa[u] += std::fabs(v);
          pq[u] += v * v;
        }
      for (; i < per_lane; ++i) {
        const double v = double(g[i]);
        pa[0] += std::fabs(v);
        pq[0] += v * v;
      }
      double a = 0, q = 0;
      for (int u = 0; u < 8; ++u) {
        a += pa[u];
        q += pq[u];
      }
      for (int layer : {slices[s].layer, n_layers}) {
        abs_sum[layer] += a;
        sq_sum[layer] += q;
        count[layer] += double(per_lane);
      }
    }
    for (int layer = 0; layer <= n_layers; ++layer) {
      if (count[layer] == 0) continue;
      accum[t * stride + 2 * layer] += S(abs_sum[layer] / count[layer]);
      accum[t * stride + 2 * layer + 1] += S(std::sqrt(sq_sum[layer]));
    }
  }
}

}  // namespace sgdlab::cpu
