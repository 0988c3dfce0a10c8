// The parameters' moving average (CPU reference: kernels/cpu/ema.hpp) in one kernel over
// the flat buffer: each element finds its slice (a linear scan) and its lane; the
// lanes' first update is read from the counters, which the update before it advanced.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/ema_update.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void ema_kernel(FlatDims d, const float* decay, const LaneState* state,
                           const int64_t* counters, const float* params, float* average) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.total) return;
  for (int s = 0; s < d.n_slices; ++s) {
    const ParamSlice sl = d.slices[s];
    if (i < sl.offset || i >= sl.offset + sl.count) continue;
    const int t = int((i - sl.offset) / (sl.count / d.T));
    if (state[t] != LaneState::Training) return;
    const bool first = counters && counters[kCounterGlobalStep] == 1;
    float a = average[i];
    ema_step(a, params[i], decay[t], first || decay[t] == 0.0f);
    average[i] = a;
    return;
  }
}

}  // namespace

void ema_update(cudaStream_t s, const FlatDims& d, const LaneArrays& lanes, const int64_t* counters,
                const float* params, float* average) {
  if (!d.total) return;
  ema_kernel<<<unsigned((d.total + 255) / 256), 256, 0, s>>>(d, lanes.ema, lanes.state, counters,
                                                             params, average);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
