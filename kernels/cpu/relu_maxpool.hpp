#pragma once
// Max-pool of a ReLU in one pass, without the ReLU's output: the forward is
// max(0, max of the window) and the backward routes each window's gradient to its first
// maximum of relu(x), kept only where x > 0. Equal, bit for bit, to relu then maxpool
// (tests/reference_test.cpp), and one pass over memory instead of three.
#include <algorithm>
#include <cstddef>

#include "sgdlab/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void relu_maxpool_forward(const PoolDims& d, const S* x, S* y) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const size_t planes = size_t(d.B) * d.T * d.C;
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
  for (size_t pl = 0; pl < planes; ++pl) {
    const S* xp = x + pl * d.H * d.W;
    S* yp = y + pl * Ho * Wo;
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        S best = S(0);
        for (int i = 0; i < d.k; ++i)
          for (int j = 0; j < d.k; ++j)
            best = std::max(best, xp[(oh * d.stride + i) * d.W + ow * d.stride + j]);
        yp[oh * Wo + ow] = best;
      }
  }
}

template <class S>
void relu_maxpool_backward(const PoolDims& d, const S* x, const S* dy, S* dx) {
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
        S best = std::max(xp[base], S(0));
        for (int i = 0; i < d.k; ++i)
          for (int j = 0; j < d.k; ++j) {
            const int idx = base + i * d.W + j;
            if (std::max(xp[idx], S(0)) > best) {
              best = xp[idx];
              arg = idx;
            }
          }
        if (best > S(0)) dxp[arg] += g[oh * Wo + ow];
      }
  }
}

}  // namespace sgdlab::cpu
