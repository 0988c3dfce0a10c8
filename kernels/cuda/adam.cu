// Adam and AdamW over the flat buffer in one kernel, as sgd.cu: each element finds its
// slice and lane; the per-lane factors of this update come from the step counter.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/adam_update.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void adam_kernel(AdamDims d, const float* lr, const LaneState* state,
                            const float* weight_decay, const float* adam, float* params,
                            const float* grads, float* m, float* v, int64_t* counters) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  // The update's number; the counters advance in the next launch, once every block has
  // read it (unlike sgd.cu, whose update does not read them).
  const int64_t t = counters[kCounterGlobalStep] + 1;
  if (i < d.total) {
    for (int s = 0; s < d.n_slices; ++s) {
      const ParamSlice sl = d.slices[s];
      if (i < sl.offset || i >= sl.offset + sl.count) continue;
      const int k = int((i - sl.offset) / (sl.count / d.T));
      if (state[k] != LaneState::Training || (sl.flags & kSliceNotTrained)) break;
      const float* a = adam + 3 * k;
      const float wd = weight_decay && !(sl.flags & kSliceIsBias) ? weight_decay[k] : 0.0f;
      const AdamFactors f = adam_factors(lr[k], a[0], a[1], wd, t);
      float p = params[i], mi = m[i], vi = v[i];
      adam_update(p, mi, vi, grads[i], a[0], a[1], a[2], wd, d.decoupled, f);
      params[i] = p;
      m[i] = mi;
      v[i] = vi;
      break;
    }
  }
}

__global__ void advance_counters(int64_t* counters) {
  counters[kCounterGlobalStep] += 1;
  counters[kCounterEpochStep] += 1;
}

}  // namespace

void adam_update(cudaStream_t s, const AdamDims& d, const LaneArrays& lanes, float* params,
                 const float* grads, float* m, float* v, int64_t* counters) {
  if (d.total) {
    adam_kernel<<<unsigned((d.total + 255) / 256), 256, 0, s>>>(
        d, lanes.lr, lanes.state, lanes.weight_decay, lanes.adam, params, grads, m, v, counters);
    SGDLAB_LAUNCH_CHECK();
  }
  // The update's number is read by every block above; the advance comes after them all
  // (stream order), as the step's end.
  advance_counters<<<1, 1, 0, s>>>(counters);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
