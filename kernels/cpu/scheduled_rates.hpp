#pragma once
// Each lane's learning rate at the global step (sgdlab/core/rate_schedule.hpp).
#include <cstdint>

#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/rate_schedule.hpp"

namespace sgdlab::cpu {

inline void scheduled_rates(int T, const RateSchedule* schedules, const int64_t* counters,
                            float* lr) {
  for (int t = 0; t < T; ++t) lr[t] = scheduled_rate(schedules[t], counters[kCounterGlobalStep]);
}

}  // namespace sgdlab::cpu
