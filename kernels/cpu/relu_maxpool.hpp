#pragma once
// Max-pool of a ReLU in one pass, without the ReLU's output: the forward is
// max(0, max of the window) and the backward routes each window's gradient to its first
// maximum of relu(x), kept only where x > 0. Equal, bit for bit, to relu then maxpool
// (tests/reference_test.cpp), and one pass over memory instead of three.
#include <algorithm>
#include <cstddef>

#include "cpu/maxpool.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

// The study's 2x2 windows at stride 2, written out: the general loops below cost a
// CNN epoch on the CPU about a tenth of its time.
template <class S>
void relu_maxpool_2x2_backward(const PoolDims& d, const S* x, const S* dy, S* dx) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const size_t planes = size_t(d.B) * d.T * d.C;
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
  for (size_t pl = 0; pl < planes; ++pl) {
    const S* xp = x + pl * d.H * d.W;
    S* dxp = dx + pl * d.H * d.W;
    const S* g = dy + pl * Ho * Wo;
    // Rows and columns that no window covers (odd H or W) get no gradient.
    if (d.H != 2 * Ho || d.W != 2 * Wo) std::fill_n(dxp, size_t(d.H) * d.W, S(0));
    for (int oh = 0; oh < Ho; ++oh) {
      const S* r0 = xp + size_t(2 * oh) * d.W;
      const S* r1 = r0 + d.W;
      S* d0 = dxp + size_t(2 * oh) * d.W;
      S* d1 = d0 + d.W;
      // Which of (0,0), (0,1), (1,0), (1,1) is the first maximum of relu(x), if that
      // maximum is above 0: only compares and selects, strict against earlier positions
      // and not against later ones, so that the compiler vectorises the row (random data
      // would mispredict branches half the time).
#pragma omp simd
      for (int ow = 0; ow < Wo; ++ow) {
        const S v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
        const S grad = g[oh * Wo + ow];
        const S m = std::max(std::max(v0, v1), std::max(v2, v3));
        const bool up = m > S(0);
        const bool w0 = up & (v0 == m);
        const bool w1 = up & (v1 == m) & !w0;
        const bool w2 = up & (v2 == m) & !w0 & !w1;
        const bool w3 = up & (v3 == m) & !w0 & !w1 & !w2;
        d0[2 * ow] = w0 ? grad : S(0);
        d0[2 * ow + 1] = w1 ? grad : S(0);
        d1[2 * ow] = w2 ? grad : S(0);
        d1[2 * ow + 1] = w3 ? grad : S(0);
      }
    }
  }
}

template <class S>
void relu_maxpool_forward(const PoolDims& d, const S* x, S* y) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const size_t planes = size_t(d.B) * d.T * d.C;
  if (d.k == 2 && d.stride == 2) {
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
    for (size_t pl = 0; pl < planes; ++pl)
      for (int oh = 0; oh < Ho; ++oh) {
        const S* r0 = x + pl * d.H * d.W + size_t(2 * oh) * d.W;
        const S* r1 = r0 + d.W;
        S* yr = y + pl * Ho * Wo + size_t(oh) * Wo;
        for (int ow = 0; ow < Wo; ++ow)
          yr[ow] = std::max(
              std::max(std::max(r0[2 * ow], r0[2 * ow + 1]), std::max(r1[2 * ow], r1[2 * ow + 1])),
              S(0));
      }
    return;
  }
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
  if (d.k == 2 && d.stride == 2) return relu_maxpool_2x2_backward(d, x, dy, dx);
  pool_backward_to_first_max(
      d, x, dy, dx, [](S v) { return std::max(v, S(0)); }, [](S v) { return v > S(0); });
}

}  // namespace sgdlab::cpu
