#pragma once
// An optimiser's facts in one place: its name, the per-element state it keeps beside the
// parameters (named slots, each a flat buffer the size of the parameters, zero at the
// start, saved in resume checkpoints under its name) and its update. The trainer, the
// warm-up before recording and the checkpoint ask this, never a slot by name.
// Adding one: a kind in OptimizerKind, a file in host/engine/optimizers/, its entry in
// optimizers/registry.cpp (a switch the compiler checks), and its backend op.
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"

namespace sgdlab {

enum class OptimizerKind { Sgd, Adam, AdamW };

// Everything one update needs: the parameters, their gradients and slices, the lanes'
// arrays, the state slots (in slots() order) and the step counters it advances.
struct OptimizerCall {
  Backend& be;
  const ParamSlice* slices;
  int n_slices, lanes;
  size_t total;  // floats in the flat buffers
  const LaneArrays& lane_arrays;
  float* params;
  const float* grads;
  const std::vector<float*>& slots;
  int64_t* counters;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual OptimizerKind kind() const = 0;
  // As resume checkpoints and messages name it ("sgd").
  virtual const char* name() const = 0;
  virtual const std::vector<std::string>& slots() const = 0;
  // Whether it reads the lanes' beta1, beta2 and eps (LaneArrays::adam).
  virtual bool uses_betas() const { return false; }
  // Updates every Training lane's parameters and ends the step (advances the counters).
  virtual void update(const OptimizerCall& c) const = 0;
};

const Optimizer& optimizer(OptimizerKind kind);
const std::vector<OptimizerKind>& all_optimizer_kinds();
// The optimiser a checkpoint or --optimizer names; InputError naming `where` for an
// unknown name.
const Optimizer& optimizer_named(const std::string& name, const std::string& where);

}  // namespace sgdlab
