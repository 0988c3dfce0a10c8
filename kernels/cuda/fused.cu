// Fused pairs of ops (CPU references: kernels/cpu/relu_maxpool.hpp, and activation then
// dropout): one launch and one pass over memory where the plain ops take two.
#include "cuda/cuda_check.hpp"
#include "kernels/cuda/device_ops.cuh"
#include "kernels/cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

// One thread per output element: max(0, the window's maximum).
__global__ void relu_maxpool_forward_kernel(PoolDims d, const float* x, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int Ho = d.Ho(), Wo = d.Wo();
  if (i >= size_t(d.B) * d.T * d.C * Ho * Wo) return;
  const int ow = int(i % Wo), oh = int((i / Wo) % Ho);
  const float* xp = x + (i / (size_t(Ho) * Wo)) * d.H * d.W;
  float best = 0.0f;
  for (int r = 0; r < d.k; ++r)
    for (int c = 0; c < d.k; ++c)
      best = fmaxf(best, xp[(oh * d.stride + r) * d.W + ow * d.stride + c]);
  y[i] = best;
}

// The flat index, within its plane, of the window's first maximum of relu(x); -1 when
// that maximum is 0 (no gradient flows through a ReLU at or below 0).
__device__ int window_arg(const PoolDims& d, const float* xp, int oh, int ow) {
  const int base = (oh * d.stride) * d.W + ow * d.stride;
  int arg = base;
  float best = fmaxf(xp[base], 0.0f);
  for (int r = 0; r < d.k; ++r)
    for (int c = 0; c < d.k; ++c) {
      const int idx = base + r * d.W + c;
      if (fmaxf(xp[idx], 0.0f) > best) {
        best = xp[idx];
        arg = idx;
      }
    }
  return best > 0.0f ? arg : -1;
}

// One thread per input element: the sum, over the windows that cover it (in window
// order), of the window's gradient where this element is the window's maximum.
__global__ void relu_maxpool_backward_kernel(PoolDims d, const float* x, const float* dy,
                                             float* dx) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t plane_size = size_t(d.H) * d.W;
  if (i >= size_t(d.B) * d.T * d.C * plane_size) return;
  const size_t plane = i / plane_size;
  const int pos = int(i % plane_size), ih = pos / d.W, iw = pos % d.W;
  const int Ho = d.Ho(), Wo = d.Wo();
  const float* xp = x + plane * plane_size;
  const float* g = dy + plane * Ho * Wo;
  // Windows oh with oh*stride <= ih < oh*stride + k.
  const int oh_lo = max(0, (ih - d.k + d.stride) / d.stride), oh_hi = min(Ho - 1, ih / d.stride);
  const int ow_lo = max(0, (iw - d.k + d.stride) / d.stride), ow_hi = min(Wo - 1, iw / d.stride);
  float acc = 0.0f;
  for (int oh = oh_lo; oh <= oh_hi; ++oh)
    for (int ow = ow_lo; ow <= ow_hi; ++ow)
      if (window_arg(d, xp, oh, ow) == pos) acc += g[oh * Wo + ow];
  dx[i] = acc;
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

void relu_maxpool_forward(cudaStream_t s, const PoolDims& d, const float* x, float* y) {
  const size_t n = size_t(d.B) * d.T * d.C * d.Ho() * d.Wo();
  if (!n) return;
  relu_maxpool_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(d, x, y);
  SGDLAB_LAUNCH_CHECK();
}

void relu_maxpool_backward(cudaStream_t s, const PoolDims& d, const float* x, const float* dy,
                           float* dx) {
  const size_t n = size_t(d.B) * d.T * d.C * d.H * d.W;
  if (!n) return;
  relu_maxpool_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(d, x, dy, dx);
  SGDLAB_LAUNCH_CHECK();
}

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
