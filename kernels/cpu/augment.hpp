#pragma once
// Training-time augmentation on [B, T, C, H, W] (sgdlab/core/augment.hpp): each image
// of a lane resampled under its own random affine transform.
#include <cstddef>
#include <cstdint>

#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

inline void augment(const AugmentDims& d, const float* strength, const uint64_t* seed, int64_t step,
                    float background, const float* x, float* y) {
  const size_t plane = size_t(d.H) * d.W;
#pragma omp parallel for collapse(2) schedule(static) if (size_t(d.B) * d.T * d.C * plane > 16384)
  for (int b = 0; b < d.B; ++b)
    for (int t = 0; t < d.T; ++t) {
      const float* s = strength + 3 * size_t(t);
      const Affine A =
          augment_transform(seed[t], uint64_t(step), uint32_t(b), s[0], s[1], s[2], d.H, d.W);
      for (int c = 0; c < d.C; ++c) {
        const size_t at = ((size_t(b) * d.T + t) * d.C + c) * plane;
        for (int r = 0; r < d.H; ++r)
          for (int col = 0; col < d.W; ++col)
            y[at + size_t(r) * d.W + col] = augment_pixel(x + at, d.H, d.W, A, r, col, background);
      }
    }
}

}  // namespace sgdlab::cpu
