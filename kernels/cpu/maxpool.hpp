#pragma once
// Max-pool without padding on [B, T, C, H, W]; lanes are just more channels here.
// Backward routes each window's gradient to its first maximum, as the forward chose it.
#include <algorithm>
#include <cstddef>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void maxpool_forward(const PoolDims& d, const S* x, S* y) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const size_t planes = size_t(d.B) * d.T * d.C;
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
  for (size_t pl = 0; pl < planes; ++pl) {
    const S* xp = x + pl * d.H * d.W;
    S* yp = y + pl * Ho * Wo;
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        S best = xp[(oh * d.stride) * d.W + ow * d.stride];
        for (int i = 0; i < d.k; ++i)
          for (int j = 0; j < d.k; ++j)
            best = std::max(best, xp[(oh * d.stride + i) * d.W + ow * d.stride + j]);
        yp[oh * Wo + ow] = best;
      }
  }
}

// Routes each window's gradient to its first maximum of value(x) (row by row, strictly
// greater to move on), where keep(x) holds there. Shared by max-pool and ReLU + max-pool.
template <class S, class Value, class Keep>
void pool_backward_to_first_max(const PoolDims& d, const S* x, const S* dy, S* dx, Value value,
                                Keep keep) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const size_t planes = size_t(d.B) * d.T * d.C;
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
  for (size_t pl = 0; pl < planes; ++pl) {
    const S* xp = x + pl * d.H * d.W;
    S* dxp = dx + pl * d.H * d.W;
    std::fill_n(dxp, size_t(d.H) * d.W, S(0));
    const S* g = dy + pl * Ho * Wo;
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        const int base = (oh * d.stride) * d.W + ow * d.stride;
        int arg = base;
        S best = value(xp[base]);
        for (int i = 0; i < d.k; ++i)
          for (int j = 0; j < d.k; ++j) {
            const int idx = base + i * d.W + j;
            if (value(xp[idx]) > best) {
              best = value(xp[idx]);
              arg = idx;
            }
          }
        if (keep(xp[arg])) dxp[arg] += g[oh * Wo + ow];
      }
  }
}

template <class S>
void maxpool_backward(const PoolDims& d, const S* x, const S* dy, S* dx) {
  pool_backward_to_first_max(
      d, x, dy, dx, [](S v) { return v; }, [](S) { return true; });
}

}  // namespace sgdlab::cpu
