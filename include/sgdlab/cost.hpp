#pragma once
// What one training step costs in arithmetic and memory traffic, counted from a model's
// plan: the floors a benchmark's figures are compared with (docs/perf.md).
#include <cstddef>

#include "sgdlab/model.hpp"

namespace sgdlab {

struct TrainingCost {
  // Multiply-adds count 2 FLOPs. Forward, backward-data (none for the first layer: the
  // input needs no gradient) and backward-weight of the layers with parameters; the
  // elementwise ops, pooling and the loss are left out (under 1% for the presets).
  double forward_flops_per_sample = 0;
  double train_flops_per_sample = 0;
  // Bytes moved to and from memory when each op reads its inputs and writes its outputs
  // once (layer by layer, nothing fused): per sample for activations and their
  // gradients, per step for the parameters (weights read forward and backward, gradient
  // written, and the update reading parameter, gradient and velocity and writing two).
  double activation_bytes_per_sample = 0;
  double parameter_bytes_per_step = 0;
  size_t params = 0;  // per lane
};

// The cost of one lane of `spec` (the plan's lane count does not matter).
TrainingCost training_cost(const ModelSpec& spec);

// Floors of one trial-epoch (`samples` training samples in steps of `batch`): seconds at
// `flops_per_s` and at `bytes_per_s`; zero where the rate is unknown (zero).
struct EpochFloor {
  double flop_seconds = 0, byte_seconds = 0;
  double flops = 0, bytes = 0;
};
EpochFloor epoch_floor(const TrainingCost& cost, size_t samples, int batch, double flops_per_s,
                       double bytes_per_s);

}  // namespace sgdlab
