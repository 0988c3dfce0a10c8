// Gradient statistics per lane and layer as a fixed-order segmented reduction: one
// block per (slice, lane) reduces |g| and g^2 with a fixed tree, then one thread per
// lane combines its slices into layers and adds mean |g| and the L2 norm to the
// running sums. No atomics: the same gradients give the same bits.
#include "cuda/cuda_check.hpp"
#include "kernels/cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void slice_sums_kernel(const ParamSlice* slices, int T, const float* grads,
                                  float* partial) {
  const int s = blockIdx.x, t = blockIdx.y;
  const ParamSlice sl = slices[s];
  const size_t per_lane = sl.count / T;
  const float* g = grads + sl.offset + size_t(t) * per_lane;
  double a = 0, q = 0;
  for (size_t i = threadIdx.x; i < per_lane; i += kThreads) {
    const double v = double(g[i]);
    a += fabs(v);
    q += v * v;
  }
  __shared__ double sa[kThreads], sq[kThreads];
  sa[threadIdx.x] = a;
  sq[threadIdx.x] = q;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) {
      sa[threadIdx.x] += sa[threadIdx.x + w];
      sq[threadIdx.x] += sq[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial[(size_t(s) * T + t) * 2] = float(sa[0]);
    partial[(size_t(s) * T + t) * 2 + 1] = float(sq[0]);
  }
}

__global__ void combine_kernel(const ParamSlice* slices, int n_slices, int n_layers, int T,
                               const float* partial, float* accum) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= T) return;
  const int stride = (n_layers + 1) * 2;
  for (int layer = 0; layer <= n_layers; ++layer) {
    double a = 0, q = 0, count = 0;
    for (int s = 0; s < n_slices; ++s) {
      if (layer < n_layers && slices[s].layer != layer) continue;
      a += partial[(size_t(s) * T + t) * 2];
      q += partial[(size_t(s) * T + t) * 2 + 1];
      count += double(slices[s].count / T);
    }
    if (count == 0) continue;
    accum[t * stride + 2 * layer] += float(a / count);
    accum[t * stride + 2 * layer + 1] += float(sqrt(q));
  }
}

}  // namespace

void grad_stats(cudaStream_t s, const ParamSlice* slices, int n_slices, int n_layers, int T,
                const float* grads, float* partial, float* accum) {
  slice_sums_kernel<<<dim3(unsigned(n_slices), unsigned(T)), kThreads, 0, s>>>(slices, T, grads,
                                                                               partial);
  SGDLAB_LAUNCH_CHECK();
  combine_kernel<<<(T + 63) / 64, 64, 0, s>>>(slices, n_slices, n_layers, T, partial, accum);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
