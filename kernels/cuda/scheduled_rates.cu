// Each lane's learning rate at the global step, one thread per lane (the formula is
// shared with the host: sgdlab/core/rate_schedule.hpp).
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/rate_schedule.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void scheduled_rates_kernel(int T, const RateSchedule* schedules,
                                       const int64_t* counters, float* lr) {
  const int t = int(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < T) lr[t] = scheduled_rate(schedules[t], counters[kCounterGlobalStep]);
}

}  // namespace

void scheduled_rates(cudaStream_t s, int T, const RateSchedule* schedules, const int64_t* counters,
                     float* lr) {
  if (T <= 0) return;
  scheduled_rates_kernel<<<unsigned((T + 127) / 128), 128, 0, s>>>(T, schedules, counters, lr);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
