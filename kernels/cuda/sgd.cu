// SGD with momentum over the flat buffer in one kernel: each element finds its slice
// (a handful of slices: a linear scan) and its lane, and lanes that are not Training are skipped.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/sgd_update.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void sgd_kernel(const ParamSlice* slices, int n_slices, size_t total, int T,
                           const float* lr, const float* momentum, const LaneState* state,
                           const float* weight_decay, const int32_t* nesterov, float* params,
                           const float* grads, float* velocity, int64_t* counters) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  // The step's other kernels read the counters before this one starts (stream order).
  if (i == 0 && counters) {
    counters[kCounterGlobalStep] += 1;
    counters[kCounterEpochStep] += 1;
  }
  if (i >= total) return;
  for (int s = 0; s < n_slices; ++s) {
    const ParamSlice sl = slices[s];
    if (i < sl.offset || i >= sl.offset + sl.count) continue;
    const int t = int((i - sl.offset) / (sl.count / T));
    if (state[t] != LaneState::Training || (sl.flags & kSliceNotTrained)) return;
    const float wd = weight_decay && !(sl.flags & kSliceIsBias) ? weight_decay[t] : 0.0f;
    float p = params[i], v = velocity[i];
    sgd_update(p, v, grads[i], lr[t], momentum[t], wd, nesterov && nesterov[t]);
    params[i] = p;
    velocity[i] = v;
    return;
  }
}

}  // namespace

void sgd_momentum(cudaStream_t s, const FlatDims& d, const LaneArrays& lanes, float* params,
                  const float* grads, float* velocity, int64_t* counters) {
  if (!d.total) return;
  sgd_kernel<<<unsigned((d.total + 255) / 256), 256, 0, s>>>(
      d.slices, d.n_slices, d.total, d.T, lanes.lr, lanes.momentum, lanes.state, lanes.weight_decay,
      lanes.nesterov, params, grads, velocity, counters);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
