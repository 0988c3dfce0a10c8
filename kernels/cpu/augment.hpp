#pragma once
// Training-time augmentation on [B, T, C, H, W] (sgdlab/core/augment.hpp): each image
// of a lane resampled under its own random affine transform and elastic distortion.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

// The elastic displacement of every pixel of image b of a lane, into `field` (left
// empty when the lane has none); `rows` is scratch.
inline void elastic_field(const AugmentDims& d, const float* s, uint64_t seed, int64_t step, int b,
                          std::vector<Displacement>& rows, std::vector<Displacement>& field) {
  field.clear();
  if (!d.elastic || s[kAugmentElasticAlpha] == 0) return;
  float w[2 * kMaxElasticRadius + 1];
  const int R = elastic_taps(s[kAugmentElasticSigma], w);
  const size_t plane = size_t(d.H) * d.W;
  rows.resize(plane);
  field.resize(plane);
  for (int r = 0; r < d.H; ++r)
    for (int c = 0; c < d.W; ++c)
      rows[size_t(r) * d.W + c] =
          elastic_row_pass(seed, uint64_t(step), uint32_t(b), d.W, w, R, r, c);
  for (int r = 0; r < d.H; ++r)
    for (int c = 0; c < d.W; ++c)
      field[size_t(r) * d.W + c] =
          elastic_column_pass(rows.data(), d.H, d.W, w, R, s[kAugmentElasticAlpha], r, c);
}

inline void augment(const AugmentDims& d, const float* strength, const uint64_t* seed, int64_t step,
                    float background, const float* x, float* y) {
  const size_t plane = size_t(d.H) * d.W;
#pragma omp parallel if (size_t(d.B) * d.T * d.C * plane > 16384)
  {
    std::vector<Displacement> rows, field;
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < d.B; ++b)
      for (int t = 0; t < d.T; ++t) {
        const float* s = strength + kAugmentFields * size_t(t);
        const Affine A = augment_transform(seed[t], uint64_t(step), uint32_t(b), s[kAugmentShift],
                                           s[kAugmentRotate], s[kAugmentScale], d.H, d.W);
        elastic_field(d, s, seed[t], step, b, rows, field);
        for (int c = 0; c < d.C; ++c) {
          const size_t at = ((size_t(b) * d.T + t) * d.C + c) * plane;
          for (int r = 0; r < d.H; ++r)
            for (int col = 0; col < d.W; ++col) {
              const size_t p = size_t(r) * d.W + col;
              y[at + p] = augment_pixel(x + at, d.H, d.W, A, r, col, background,
                                        field.empty() ? Displacement{0, 0} : field[p]);
            }
        }
      }
  }
}

}  // namespace sgdlab::cpu
