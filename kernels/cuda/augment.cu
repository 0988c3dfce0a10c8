// Training-time augmentation (CPU reference: kernels/cpu/augment.hpp): one thread per
// output pixel, each computing its image's transform from the same Philox draw.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/augment.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void augment_kernel(AugmentDims d, const float* strength, const uint64_t* seed,
                               const int64_t* counters, float background, const float* x,
                               float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t plane = size_t(d.H) * d.W;
  if (i >= size_t(d.B) * d.T * d.C * plane) return;
  const size_t image = i / (plane * d.C);  // b * T + t
  const int t = int(image % d.T), b = int(image / d.T);
  const int r = int((i % plane) / d.W), col = int(i % d.W);
  const float* s = strength + 3 * size_t(t);
  const Affine A = augment_transform(seed[t], uint64_t(counters[kCounterGlobalStep]), uint32_t(b),
                                     s[0], s[1], s[2], d.H, d.W);
  y[i] = augment_pixel(x + (i / plane) * plane, d.H, d.W, A, r, col, background);
}

}  // namespace

void augment(cudaStream_t s, const AugmentDims& d, const float* strength, const uint64_t* seed,
             const int64_t* counters, float background, const float* x, float* y) {
  const size_t n = size_t(d.B) * d.T * d.C * d.H * d.W;
  if (!n) return;
  augment_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(d, strength, seed, counters, background,
                                                           x, y);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
