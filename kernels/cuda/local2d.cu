// Locally connected layer (unshared weights): W [T, L, Cout, Cin*k*k], bias [T, L, Cout],
// activations [B, T, C, H, W]. Lane and output location are grid axes. No float
// atomics: the input gradient is a gather over the windows that cover each input pixel,
// and the weight gradient is a per-thread sum over the batch in batch order.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

__device__ __forceinline__ float x_at(const ConvDims& d, const float* x, int b, int t, int q,
                                      int oh, int ow) {
  const int c = q / (d.k * d.k), i = (q / d.k) % d.k, j = q % d.k;
  const int ih = oh * d.stride - d.pad + i, iw = ow * d.stride - d.pad + j;
  if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) return 0.0f;
  return x[((size_t(b) * d.T + t) * d.Cin + c) * d.H * d.W + size_t(ih) * d.W + iw];
}

// grid (L, T, ceil(B*Cout / threads)); thread: one (b, co) of location l, lane t.
__global__ void forward_kernel(ConvDims d, const float* x, const float* w, const float* bias,
                               float* y) {
  const int l = blockIdx.x, t = blockIdx.y;
  const int idx = blockIdx.z * blockDim.x + threadIdx.x;
  if (idx >= d.B * d.Cout) return;
  const int b = idx / d.Cout, co = idx % d.Cout;
  const int L = d.L(), P = d.patch(), oh = l / d.Wo(), ow = l % d.Wo();
  const float* wr = w + ((size_t(t) * L + l) * d.Cout + co) * P;
  float acc = bias[(size_t(t) * L + l) * d.Cout + co];
  for (int q = 0; q < P; ++q) acc += wr[q] * x_at(d, x, b, t, q, oh, ow);
  y[((size_t(b) * d.T + t) * d.Cout + co) * L + l] = acc;
}

// One thread per input element (b, t, c, ih, iw): sums over the windows that cover it.
__global__ void backward_data_kernel(ConvDims d, const float* w, const float* dy, float* dx) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t n = size_t(d.B) * d.T * d.Cin * d.H * d.W;
  if (idx >= n) return;
  const int iw = int(idx % d.W), ih = int((idx / d.W) % d.H),
            c = int((idx / (size_t(d.W) * d.H)) % d.Cin);
  const size_t bt = idx / (size_t(d.W) * d.H * d.Cin);
  const int t = int(bt % d.T);
  const size_t b = bt / d.T;
  const int L = d.L(), P = d.patch(), Ho = d.Ho(), Wo = d.Wo();
  float acc = 0.0f;
  for (int i = 0; i < d.k; ++i) {
    const int oh_s = ih + d.pad - i;  // = oh * stride
    if (oh_s < 0 || oh_s % d.stride) continue;
    const int oh = oh_s / d.stride;
    if (oh >= Ho) continue;
    for (int j = 0; j < d.k; ++j) {
      const int ow_s = iw + d.pad - j;
      if (ow_s < 0 || ow_s % d.stride) continue;
      const int ow = ow_s / d.stride;
      if (ow >= Wo) continue;
      const int l = oh * Wo + ow, q = (c * d.k + i) * d.k + j;
      for (int co = 0; co < d.Cout; ++co)
        acc += w[((size_t(t) * L + l) * d.Cout + co) * P + q] *
               dy[((b * d.T + t) * d.Cout + co) * L + l];
    }
  }
  dx[idx] = acc;
}

// One thread per weight (t, l, co, q); the thread with q == 0 also writes the bias
// gradient. Sums over the batch run in batch order.
__global__ void backward_weight_kernel(ConvDims d, const float* x, const float* dy, float* dw,
                                       float* db) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int L = d.L(), P = d.patch();
  const size_t n = size_t(d.T) * L * d.Cout * P;
  if (idx >= n) return;
  const int q = int(idx % P);
  const int co = int((idx / P) % d.Cout);
  const int l = int((idx / (size_t(P) * d.Cout)) % L);
  const int t = int(idx / (size_t(P) * d.Cout * L));
  const int oh = l / d.Wo(), ow = l % d.Wo();
  float acc = 0.0f, bacc = 0.0f;
  for (int b = 0; b < d.B; ++b) {
    const float g = dy[((size_t(b) * d.T + t) * d.Cout + co) * L + l];
    acc += g * x_at(d, x, b, t, q, oh, ow);
    bacc += g;
  }
  dw[idx] = acc;
  if (q == 0) db[(size_t(t) * L + l) * d.Cout + co] = bacc;
}

}  // namespace

void local2d_forward(cudaStream_t s, const ConvDims& d, const float* x, const float* w,
                     const float* b, float* y) {
  const int threads = 128;
  const dim3 grid(unsigned(d.L()), unsigned(d.T), unsigned((d.B * d.Cout + threads - 1) / threads));
  forward_kernel<<<grid, threads, 0, s>>>(d, x, w, b, y);
  SGDLAB_LAUNCH_CHECK();
}

void local2d_backward_data(cudaStream_t s, const ConvDims& d, const float* w, const float* dy,
                           float* dx) {
  const size_t n = size_t(d.B) * d.T * d.Cin * d.H * d.W;
  backward_data_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(d, w, dy, dx);
  SGDLAB_LAUNCH_CHECK();
}

void local2d_backward_weight(cudaStream_t s, const ConvDims& d, const float* x, const float* dy,
                             float* dw, float* db) {
  const size_t n = size_t(d.T) * d.L() * d.Cout * d.patch();
  backward_weight_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(d, x, dy, dw, db);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
