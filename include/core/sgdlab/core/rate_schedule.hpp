#pragma once
// A lane's learning rate at an optimiser step: one body for the host (the trainer's
// reports, tests) and both backends (the `scheduled_rates` op), so that every place
// computes the same float. engine/schedule.hpp builds a RateSchedule from `--schedule`.
//
// Per-epoch shapes count `at` in epochs (the step divided by `unit_steps`, the steps of
// an epoch), per-step shapes in steps (`unit_steps` 1):
//   Constant  base
//   Step      base * gamma^(at / step_every)                    (PyTorch's StepLR)
//   Cosine    base * (1 + cos(pi * at / length)) / 2            (CosineAnnealingLR,
//                                                                T_max = length, eta_min 0)
//   OneCycle  PyTorch's OneCycleLR with anneal_strategy "cos", three_phase False and
//             cycle_momentum False: from base / div to base over the first
//             pct_start * length - 1 steps, then down to base / div / final_div at step
//             length - 1.
// and, with warmup W > 0 (Constant, Step, Cosine), `at` < W uses (at + 1) / (W + 1) of
// that rate. Computed in double and rounded once, as the host always did.
#include <cmath>
#include <cstdint>

#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

enum class RateShape : int32_t { Constant, Step, Cosine, OneCycle };

// Plain data: copied into backend memory, one per lane.
struct RateSchedule {
  float base = 0;  // the lane's lr; OneCycle's peak (PyTorch's max_lr)
  RateShape shape = RateShape::Constant;
  int32_t unit_steps = 1;  // steps per unit of `at`: an epoch's steps, or 1
  int32_t warmup = 0;      // units of linear warm-up
  int32_t step_every = 1;  // Step: units between multiplications by gamma
  float gamma = 1;
  int64_t length = 1;  // the run in units (Cosine, OneCycle)
  double pct_start = 0.3, div_factor = 25, final_div_factor = 1e4;  // OneCycle, as PyTorch's
};

// PyTorch's _annealing_cos: from `from` at pct 0 to `to` at pct 1 along half a cosine.
SGDLAB_HD double anneal_cos(double from, double to, double pct) {
  return to + (from - to) / 2.0 * (cos(3.14159265358979323846 * pct) + 1.0);
}

SGDLAB_HD double one_cycle_rate(const RateSchedule& s, int64_t step) {
  const double peak = s.base;
  const double initial = peak / s.div_factor;
  const double floor_rate = initial / s.final_div_factor;
  // As PyTorch: the first phase ends at pct_start * total - 1, not rounded to a step.
  const double rise_end = s.pct_start * double(s.length) - 1.0;
  const double fall_end = double(s.length - 1);
  const double at = double(step);
  if (at <= rise_end) return anneal_cos(initial, peak, at / rise_end);
  return anneal_cos(peak, floor_rate, (at - rise_end) / (fall_end - rise_end));
}

// The rate of global step `step` (0-based).
SGDLAB_HD float scheduled_rate(const RateSchedule& s, int64_t step) {
  if (s.shape == RateShape::OneCycle) return float(one_cycle_rate(s, step));
  const int64_t at = step / (s.unit_steps > 0 ? s.unit_steps : 1);
  double lr = s.base;
  if (s.shape == RateShape::Step) lr *= pow(double(s.gamma), double(at / s.step_every));
  if (s.shape == RateShape::Cosine)
    lr *= 0.5 *
          (1.0 + cos(3.14159265358979323846 * double(at) / double(s.length > 1 ? s.length : 1)));
  if (at < s.warmup) lr *= double(at + 1) / double(s.warmup + 1);
  return float(lr);
}

}  // namespace sgdlab
