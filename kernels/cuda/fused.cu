// Activation then dropout as one op (the CPU runs the two references in turn): one
// launch and one pass over memory where the plain ops take two. ReLU + max-pool, the
// other fused pair, lives with the max-pool kernels (maxpool.cu).
#include "cuda/cuda_check.hpp"
#include "cuda/device_ops.cuh"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

__global__ void activation_dropout_forward_kernel(Activation a, DropoutDims d, const float* rate,
                                                  const uint64_t* seed, const int64_t* counters,
                                                  const float* x, float* act, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(d.B) * d.T * d.F) return;
  const float v = activate(a, x[i]);
  act[i] = v;
  const float factor = dropout_factor(d, rate, seed, counters, i);
  y[i] = factor != 0.0f ? v * factor : 0.0f;
}

__global__ void activation_dropout_backward_kernel(Activation a, DropoutDims d, const float* rate,
                                                   const uint64_t* seed, const int64_t* counters,
                                                   const float* act, const float* dy, float* dx) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(d.B) * d.T * d.F) return;
  const float factor = dropout_factor(d, rate, seed, counters, i);
  dx[i] = activate_grad(a, act[i], factor != 0.0f ? dy[i] * factor : 0.0f);
}

}  // namespace

void activation_dropout_forward(cudaStream_t s, Activation a, const DropoutDims& d,
                                const float* rate, const uint64_t* seed, const int64_t* counters,
                                const float* x, float* act, float* y) {
  const size_t n = size_t(d.B) * d.T * d.F;
  if (!n) return;
  activation_dropout_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(a, d, rate, seed, counters,
                                                                       x, act, y);
  SGDLAB_LAUNCH_CHECK();
}

void activation_dropout_backward(cudaStream_t s, Activation a, const DropoutDims& d,
                                 const float* rate, const uint64_t* seed, const int64_t* counters,
                                 const float* act, const float* dy, float* dx) {
  const size_t n = size_t(d.B) * d.T * d.F;
  if (!n) return;
  activation_dropout_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(a, d, rate, seed, counters,
                                                                        act, dy, dx);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
