// Gradient statistics per lane and layer as a fixed-order segmented reduction: one
// block per (slice, lane) reduces |g| and g^2 with a fixed tree; the block that finishes
// last (elected by an integer ticket, the one atomic) then combines each lane's slices
// into layers and adds mean |g| and the L2 norm to the running sums, in a fixed order.
// No float atomics: the same gradients give the same bits, in one launch.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;

__device__ void combine_lane(const ParamSlice* slices, int n_slices, int n_layers, int T, int t,
                             const float* partial, float* accum);

__global__ void grad_stats_kernel(const ParamSlice* slices, int n_slices, int n_layers, int T,
                                  const float* grads, float* partial, float* accum,
                                  unsigned* done) {
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
  __shared__ bool last;
  if (threadIdx.x == 0) {
    partial[(size_t(s) * T + t) * 2] = float(sa[0]);
    partial[(size_t(s) * T + t) * 2 + 1] = float(sq[0]);
    __threadfence();  // the partial sums are visible before the ticket says so
    last = atomicAdd(done, 1u) == gridDim.x * gridDim.y - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int lane = threadIdx.x; lane < T; lane += blockDim.x)
    combine_lane(slices, n_slices, n_layers, T, lane, partial, accum);
  if (threadIdx.x == 0) *done = 0;  // ready for the next launch (and graph replay)
}

__device__ void combine_lane(const ParamSlice* slices, int n_slices, int n_layers, int T, int t,
                             const float* partial, float* accum) {
  const int stride = (n_layers + 1) * 2;
  for (int layer = 0; layer <= n_layers; ++layer) {
    double a = 0, q = 0, count = 0;
    for (int s = 0; s < n_slices; ++s) {
      if (layer < n_layers && slices[s].layer != layer) continue;
      if (slices[s].flags & kSliceNotTrained) continue;  // state, not a parameter
      // __ldcg: from L2, where the other blocks' sums are, not a stale L1 line.
      a += __ldcg(partial + (size_t(s) * T + t) * 2);
      q += __ldcg(partial + (size_t(s) * T + t) * 2 + 1);
      count += double(slices[s].count / T);
    }
    if (count == 0) continue;
    accum[t * stride + 2 * layer] += float(a / count);
    accum[t * stride + 2 * layer + 1] += float(sqrt(q));
  }
}

}  // namespace

void grad_stats(cudaStream_t s, const ParamSlice* slices, int n_slices, int n_layers, int T,
                const float* grads, float* partial, float* accum, unsigned* done) {
  grad_stats_kernel<<<dim3(unsigned(n_slices), unsigned(T)), kThreads, 0, s>>>(
      slices, n_slices, n_layers, T, grads, partial, accum, done);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
