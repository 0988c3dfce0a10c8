// Average pooling (CPU reference: kernels/cpu/avgpool.hpp). Forward: one thread per
// output, the window's sum over its area. Backward: one thread per input, gathering
// the shares of the windows that hold it, in the CPU's order (no atomics), so each
// element's sum has one order on every run.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

__global__ void avgpool_forward_kernel(AvgPoolDims d, const float* x, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int Ho = d.Ho(), Wo = d.Wo();
  if (i >= size_t(d.B) * d.T * d.C * Ho * Wo) return;
  const int ow = int(i % Wo), oh = int((i / Wo) % Ho);
  const float* xp = x + (i / (size_t(Ho) * Wo)) * d.H * d.W;
  float sum = 0.0f;
  for (int r = 0; r < d.kh; ++r)
    for (int c = 0; c < d.kw; ++c) sum += xp[(oh * d.sh + r) * d.W + ow * d.sw + c];
  y[i] = sum / (float(d.kh) * float(d.kw));
}

__global__ void avgpool_backward_kernel(AvgPoolDims d, const float* dy, float* dx) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(d.B) * d.T * d.C * d.H * d.W) return;
  const int Ho = d.Ho(), Wo = d.Wo();
  const int w = int(i % d.W), h = int((i / d.W) % d.H);
  const float* g = dy + (i / (size_t(d.H) * d.W)) * Ho * Wo;
  const float area = float(d.kh) * float(d.kw);
  // The windows whose rows oh * sh .. oh * sh + kh - 1 hold h (and likewise columns).
  const int oh_first = h >= d.kh ? (h - d.kh) / d.sh + 1 : 0;
  const int ow_first = w >= d.kw ? (w - d.kw) / d.sw + 1 : 0;
  float sum = 0.0f;
  for (int oh = oh_first; oh < Ho && oh * d.sh <= h; ++oh)
    for (int ow = ow_first; ow < Wo && ow * d.sw <= w; ++ow) sum += g[oh * Wo + ow] / area;
  dx[i] = sum;
}

}  // namespace

void avgpool_forward(cudaStream_t s, const AvgPoolDims& d, const float* x, float* y) {
  const size_t n = size_t(d.B) * d.T * d.C * d.Ho() * d.Wo();
  if (!n) return;
  avgpool_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(d, x, y);
  SGDLAB_LAUNCH_CHECK();
}

void avgpool_backward(cudaStream_t s, const AvgPoolDims& d, const float* dy, float* dx) {
  const size_t n = size_t(d.B) * d.T * d.C * d.H * d.W;
  if (!n) return;
  avgpool_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(d, dy, dx);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
