#pragma once
// Learning-rate schedules (the formulas: sgdlab/core/rate_schedule.hpp):
//   constant         the lane's rate every step
//   step:E:G         multiplied by G after every E epochs (PyTorch's StepLR)
//   cosine           lr * (1 + cos(pi * e / epochs)) / 2 at epoch e = 0, 1, ...
//                    (PyTorch's CosineAnnealingLR with T_max = epochs, eta_min = 0)
//   cosine-per-step  the same curve over the run's steps, set every step
//   onecycle[:PCT]   PyTorch's OneCycleLR per step with max_lr = the lane's rate,
//                    pct_start = PCT (default 0.3), cosine annealing, two phases and
//                    no momentum cycling
// and, with `warmup` W > 0 (not onecycle, which warms up by itself), the first W
// epochs (per-step kinds: their steps) use (u + 1) / (W + 1) of that rate at unit u.
#include <string>

#include "sgdlab/core/rate_schedule.hpp"

namespace sgdlab {

struct Schedule {
  enum Kind { Constant, Step, Cosine, CosinePerStep, OneCycle } kind = Constant;
  int step_epochs = 1;
  float gamma = 1;
  double pct_start = 0.3;  // OneCycle
  int warmup = 0;
  int epochs = 1;  // the run's length, for cosine and onecycle
  bool is_constant() const { return kind == Constant && warmup == 0; }
  // Whether the rate changes inside an epoch.
  bool per_step() const { return kind == CosinePerStep || kind == OneCycle; }
};

// "constant", "step:E:G", "cosine", "cosine-per-step" or "onecycle[:PCT]"; throws
// InputError naming --schedule (or --warmup).
Schedule parse_schedule(const std::string& text, int warmup, int epochs);
// For people: "cosine after 3 warm-up epochs".
std::string to_string(const Schedule& s);
// The --schedule argument that parses back to `s` (its warm-up is --warmup's).
std::string schedule_argument(const Schedule& s);

// The schedule of a lane with base rate `base`, for a run of `steps_per_epoch` steps
// an epoch. Throws InputError when a onecycle run is too short for its phases.
RateSchedule rate_schedule(float base, const Schedule& s, int steps_per_epoch);

// The rate of the first step of epoch `epoch` (0-based); for per-epoch kinds the rate
// of the whole epoch.
float scheduled_lr(float base, const Schedule& s, int epoch, int steps_per_epoch = 1);

}  // namespace sgdlab
