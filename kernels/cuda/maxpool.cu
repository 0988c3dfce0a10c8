// Max-pool and the fused ReLU + max-pool (CPU references: kernels/cpu/maxpool.hpp and
// relu_maxpool.hpp). sgdlab's own kernels rather than cuDNN's pooling, so that every
// path routes a window's gradient by one tie rule, the CPU's: the first maximum, row by
// row. USPS's -1 background ties most windows, and cuDNN leaves its rule unspecified.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

// The value a window compares: relu(x) for the fused op, x for the plain one.
template <bool kRelu>
__device__ float pooled(float v) {
  return kRelu ? fmaxf(v, 0.0f) : v;
}

// One thread per output element: the window's maximum of pooled(x).
template <bool kRelu>
__global__ void pool_forward_kernel(PoolDims d, const float* x, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int Ho = d.Ho(), Wo = d.Wo();
  if (i >= size_t(d.B) * d.T * d.C * Ho * Wo) return;
  const int ow = int(i % Wo), oh = int((i / Wo) % Ho);
  const float* xp = x + (i / (size_t(Ho) * Wo)) * d.H * d.W;
  const int base = (oh * d.stride) * d.W + ow * d.stride;
  float best = pooled<kRelu>(xp[base]);
  for (int r = 0; r < d.k; ++r)
    for (int c = 0; c < d.k; ++c) best = fmaxf(best, pooled<kRelu>(xp[base + r * d.W + c]));
  y[i] = best;
}

// The flat index, within its plane, of the window's first maximum of pooled(x); -1 where
// no gradient flows (the fused op's maximum is 0: a ReLU at or below 0).
template <bool kRelu>
__device__ int window_arg(const PoolDims& d, const float* xp, int oh, int ow) {
  const int base = (oh * d.stride) * d.W + ow * d.stride;
  int arg = base;
  float best = pooled<kRelu>(xp[base]);
  for (int r = 0; r < d.k; ++r)
    for (int c = 0; c < d.k; ++c) {
      const int idx = base + r * d.W + c;
      if (pooled<kRelu>(xp[idx]) > best) {
        best = pooled<kRelu>(xp[idx]);
        arg = idx;
      }
    }
  return !kRelu || best > 0.0f ? arg : -1;
}

// One thread per input element: the sum, over the windows that cover it (in window
// order, as the CPU adds them), of the window's gradient where it is the first maximum.
template <bool kRelu>
__global__ void pool_backward_kernel(PoolDims d, const float* x, const float* dy, float* dx) {
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
      if (window_arg<kRelu>(d, xp, oh, ow) == pos) acc += g[oh * Wo + ow];
  dx[i] = acc;
}

template <bool kRelu>
void pool_forward(cudaStream_t s, const PoolDims& d, const float* x, float* y) {
  const size_t n = size_t(d.B) * d.T * d.C * d.Ho() * d.Wo();
  if (!n) return;
  pool_forward_kernel<kRelu><<<blocks_for(n), kThreads, 0, s>>>(d, x, y);
  SGDLAB_LAUNCH_CHECK();
}

template <bool kRelu>
void pool_backward(cudaStream_t s, const PoolDims& d, const float* x, const float* dy, float* dx) {
  const size_t n = size_t(d.B) * d.T * d.C * d.H * d.W;
  if (!n) return;
  pool_backward_kernel<kRelu><<<blocks_for(n), kThreads, 0, s>>>(d, x, dy, dx);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace

void maxpool_forward(cudaStream_t s, const PoolDims& d, const float* x, float* y) {
  pool_forward<false>(s, d, x, y);
}
void maxpool_backward(cudaStream_t s, const PoolDims& d, const float* x, const float* dy,
                      float* dx) {
  pool_backward<false>(s, d, x, dy, dx);
}
void relu_maxpool_forward(cudaStream_t s, const PoolDims& d, const float* x, float* y) {
  pool_forward<true>(s, d, x, y);
}
void relu_maxpool_backward(cudaStream_t s, const PoolDims& d, const float* x, const float* dy,
                           float* dx) {
  pool_backward<true>(s, d, x, dy, dx);
}

}  // namespace sgdlab::cuda
