#pragma once
// What one training step costs in arithmetic and memory traffic, counted from a model's
// plan: the floors a benchmark's figures are compared with (docs/perf.md).
#include <cstddef>

#include "sgdlab/engine/model.hpp"

namespace sgdlab {

struct TrainingCost {
  // Multiply-adds count 2 FLOPs. Forward, backward-data (none for the first layer: the
  // input needs no gradient) and backward-weight of the layers with parameters; the
  // elementwise ops, pooling and the loss are left out (under 1% for the presets).
  double forward_flops_per_sample = 0;
  double train_flops_per_sample = 0;
  // Bytes moved to and from memory when each op the trainer runs (a fused stage or a
  // single layer) reads its inputs and writes its outputs once: per sample for
  // activations and their gradients, per step for the parameters (weights read forward
  // and backward, gradient written, and the update reading parameter, gradient and
  // velocity and writing two).
  double activation_bytes_per_sample = 0;
  double parameter_bytes_per_step = 0;
  size_t params = 0;  // per lane
  // Floats a step keeps per sample: the input and every layer's output.
  double stored_floats_per_sample = 0;
};

// Bytes a pack of T lanes touches in one step of `batch` samples: parameters, gradients
// and velocities, and the stored activations. Where this fits in the GPU's L2 cache
// (50 MB on an H100 or H200), the byte floor above, which assumes every access goes to
// memory, is pessimistic.
double working_set_bytes(const TrainingCost& cost, int lanes, int batch);

// The cost of one lane of `spec` run with fused stages (or layer by layer).
TrainingCost training_cost(const ModelSpec& spec, bool fused = true);

// Floors of one trial-epoch (`samples` training samples in steps of `batch`): seconds at
// `flops_per_s` and at `bytes_per_s`; zero where the rate is unknown (zero).
struct EpochFloor {
  double flop_seconds = 0, byte_seconds = 0;
  double flops = 0, bytes = 0;
};
EpochFloor epoch_floor(const TrainingCost& cost, size_t samples, int batch, double flops_per_s,
                       double bytes_per_s);

}  // namespace sgdlab
