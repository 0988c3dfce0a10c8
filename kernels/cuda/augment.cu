// Training-time augmentation (CPU reference: kernels/cpu/augment.hpp). With an elastic
// distortion, a first kernel writes the displacement noise's horizontal smoothing per
// pixel of each image; then one thread per output pixel computes its image's transform
// from the same Philox draw, its displacement from the vertical pass, and samples.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/augment.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void elastic_rows_kernel(AugmentDims d, const float* strength, const uint64_t* seed,
                                    const int64_t* counters, Displacement* rows) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t plane = size_t(d.H) * d.W;
  if (i >= size_t(d.B) * d.T * plane) return;
  const size_t image = i / plane;  // b * T + t
  const int t = int(image % d.T), b = int(image / d.T);
  const float* s = strength + kAugmentFields * size_t(t);
  if (s[kAugmentElasticAlpha] == 0) return;
  float w[2 * kMaxElasticRadius + 1];
  const int R = elastic_taps(s[kAugmentElasticSigma], w);
  const int r = int((i % plane) / d.W), col = int(i % d.W);
  rows[i] = elastic_row_pass(seed[t], uint64_t(counters[kCounterGlobalStep]), uint32_t(b), d.W, w,
                             R, r, col);
}

__global__ void augment_kernel(AugmentDims d, const float* strength, const uint64_t* seed,
                               const int64_t* counters, float background, const Displacement* rows,
                               const float* x, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t plane = size_t(d.H) * d.W;
  if (i >= size_t(d.B) * d.T * d.C * plane) return;
  const size_t image = i / (plane * d.C);  // b * T + t
  const int t = int(image % d.T), b = int(image / d.T);
  const int r = int((i % plane) / d.W), col = int(i % d.W);
  const float* s = strength + kAugmentFields * size_t(t);
  const Affine A =
      augment_transform(seed[t], uint64_t(counters[kCounterGlobalStep]), uint32_t(b),
                        s[kAugmentShift], s[kAugmentRotate], s[kAugmentScale], d.H, d.W);
  Displacement u{0, 0};
  if (rows && s[kAugmentElasticAlpha] != 0) {
    float w[2 * kMaxElasticRadius + 1];
    const int R = elastic_taps(s[kAugmentElasticSigma], w);
    u = elastic_column_pass(rows + image * plane, d.H, d.W, w, R, s[kAugmentElasticAlpha], r, col);
  }
  y[i] = augment_pixel(x + (i / plane) * plane, d.H, d.W, A, r, col, background, u);
}

}  // namespace

void augment(cudaStream_t s, const AugmentDims& d, const float* strength, const uint64_t* seed,
             const int64_t* counters, float background, const float* x, float* y,
             Displacement* rows) {
  const size_t n = size_t(d.B) * d.T * d.C * d.H * d.W;
  if (!n) return;
  if (d.elastic) {
    const size_t pixels = size_t(d.B) * d.T * d.H * d.W;
    elastic_rows_kernel<<<unsigned((pixels + 255) / 256), 256, 0, s>>>(d, strength, seed, counters,
                                                                       rows);
    SGDLAB_LAUNCH_CHECK();
  }
  augment_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(d, strength, seed, counters, background,
                                                           d.elastic ? rows : nullptr, x, y);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
