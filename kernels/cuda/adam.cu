// Adam and AdamW over the flat buffer, as sgd.cu: each element finds its slice and lane.
// The per-lane factors of the update (bias corrections: two double pows per lane) are
// computed once per lane and step in a one-block kernel that reads the step counter and
// then advances it, not once per element.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/adam_update.hpp"

namespace sgdlab::cuda {
namespace {

// One block: every thread reads the update's number before thread 0 advances the
// counters (the update kernel after it does not read them).
__global__ void adam_factors_kernel(int T, const float* lr, const float* weight_decay,
                                    const float* adam, int64_t* counters, AdamFactors* factors) {
  const int64_t t = counters[kCounterGlobalStep] + 1;
  __syncthreads();
  for (int k = threadIdx.x; k < T; k += blockDim.x)
    factors[k] =
        adam_factors(lr[k], adam[3 * k], adam[3 * k + 1], weight_decay ? weight_decay[k] : 0.0f, t);
  if (threadIdx.x == 0) {
    counters[kCounterGlobalStep] += 1;
    counters[kCounterEpochStep] += 1;
  }
}

__global__ void adam_kernel(AdamDims d, const LaneState* state, const float* weight_decay,
                            const float* adam, const AdamFactors* factors, float* params,
                            const float* grads, float* m, float* v) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.total) return;
  for (int s = 0; s < d.n_slices; ++s) {
    const ParamSlice sl = d.slices[s];
    if (i < sl.offset || i >= sl.offset + sl.count) continue;
    const int k = int((i - sl.offset) / (sl.count / d.T));
    if (state[k] != LaneState::Training || (sl.flags & kSliceNotTrained)) return;
    const float* a = adam + 3 * k;
    // Biases take no decay (the factors' decay term then goes unused).
    const float wd = weight_decay && !(sl.flags & kSliceIsBias) ? weight_decay[k] : 0.0f;
    float p = params[i], mi = m[i], vi = v[i];
    adam_update(p, mi, vi, grads[i], a[0], a[1], a[2], wd, d.decoupled, factors[k]);
    params[i] = p;
    m[i] = mi;
    v[i] = vi;
    return;
  }
}

}  // namespace

void adam_update(cudaStream_t s, const AdamDims& d, const LaneArrays& lanes, float* params,
                 const float* grads, float* m, float* v, int64_t* counters, AdamFactors* factors) {
  adam_factors_kernel<<<1, 256, 0, s>>>(d.T, lanes.lr, lanes.weight_decay, lanes.adam, counters,
                                        factors);
  SGDLAB_LAUNCH_CHECK();
  if (!d.total) return;
  adam_kernel<<<unsigned((d.total + 255) / 256), 256, 0, s>>>(
      d, lanes.state, lanes.weight_decay, lanes.adam, factors, params, grads, m, v);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
