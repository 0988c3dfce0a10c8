// Inverted dropout with the CPU's Philox mask (kernels/cpu/dropout.hpp): element
// (b, f) of lane t is kept when philox(seed_t, step, layer, b*F + f) >= rate_t. The
// step is read from device memory, so a replayed graph draws the next step's mask.
#include "cuda/cuda_check.hpp"
#include "cuda/device_ops.cuh"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void dropout_kernel(DropoutDims d, const float* rate, const uint64_t* seed,
                               const int64_t* counters, const float* in, float* out) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t n = size_t(d.B) * d.T * d.F;
  if (i >= n) return;
  const float factor = dropout_factor(d, rate, seed, counters, i);
  out[i] = factor != 0.0f ? in[i] * factor : 0.0f;
}

}  // namespace

void dropout(cudaStream_t s, const DropoutDims& d, const float* rate, const uint64_t* seed,
             const int64_t* counters, const float* in, float* out) {
  const size_t n = size_t(d.B) * d.T * d.F;
  if (!n) return;
  dropout_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(d, rate, seed, counters, in, out);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
