#pragma once
// Average pooling without padding on [B, T, C, H, W] (PyTorch's AvgPool2d and, with the
// whole plane as the window, AdaptiveAvgPool2d(1)); lanes are just more channels here.
// Backward gives each input the sum of dy / (kh * kw) over the windows that hold it.
#include <algorithm>
#include <cstddef>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void avgpool_forward(const AvgPoolDims& d, const S* x, S* y) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const S area = S(d.kh) * S(d.kw);
  const size_t planes = size_t(d.B) * d.T * d.C;
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
  for (size_t pl = 0; pl < planes; ++pl) {
    const S* xp = x + pl * d.H * d.W;
    S* yp = y + pl * Ho * Wo;
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        S sum = 0;
        for (int i = 0; i < d.kh; ++i)
          for (int j = 0; j < d.kw; ++j) sum += xp[(oh * d.sh + i) * d.W + ow * d.sw + j];
        yp[oh * Wo + ow] = sum / area;
      }
  }
}

template <class S>
void avgpool_backward(const AvgPoolDims& d, const S* dy, S* dx) {
  const int Ho = d.Ho(), Wo = d.Wo();
  const S area = S(d.kh) * S(d.kw);
  const size_t planes = size_t(d.B) * d.T * d.C;
#pragma omp parallel for schedule(static) if (planes * Ho * Wo > 16384)
  for (size_t pl = 0; pl < planes; ++pl) {
    S* dxp = dx + pl * d.H * d.W;
    std::fill_n(dxp, size_t(d.H) * d.W, S(0));
    const S* g = dy + pl * Ho * Wo;
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        const S share = g[oh * Wo + ow] / area;
        for (int i = 0; i < d.kh; ++i)
          for (int j = 0; j < d.kw; ++j) dxp[(oh * d.sh + i) * d.W + ow * d.sw + j] += share;
      }
  }
}

}  // namespace sgdlab::cpu
