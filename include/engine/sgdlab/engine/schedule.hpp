#pragma once
// Learning-rate schedules, set per epoch (the rate used is in metrics.jsonl):
//   constant       the lane's rate every epoch
//   step:E:G       multiplied by G after every E epochs (PyTorch's StepLR)
//   cosine         lr * (1 + cos(pi * e / epochs)) / 2 at epoch e = 0, 1, ...
//                  (PyTorch's CosineAnnealingLR with T_max = epochs, eta_min = 0)
// and, with `warmup` W > 0, epoch e < W uses (e + 1) / (W + 1) of that rate.
#include <string>

namespace sgdlab {

struct Schedule {
  enum Kind { Constant, Step, Cosine } kind = Constant;
  int step_epochs = 1;
  float gamma = 1;
  int warmup = 0;
  int epochs = 1;  // the run's length, for cosine
  bool is_constant() const { return kind == Constant && warmup == 0; }
};

// "constant", "step:E:G" or "cosine"; throws InputError naming --schedule.
Schedule parse_schedule(const std::string& text, int warmup, int epochs);
std::string to_string(const Schedule& s);

// The rate of epoch `epoch` (0-based) for a base rate.
float scheduled_lr(float base, const Schedule& s, int epoch);

}  // namespace sgdlab
