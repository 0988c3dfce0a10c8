#pragma once
// Each optimiser's description, one per file; registry.cpp maps the kinds to them.
#include "sgdlab/engine/optimizer.hpp"

namespace sgdlab {

const Optimizer& sgd_optimizer();
const Optimizer& adam_optimizer();
const Optimizer& adamw_optimizer();

}  // namespace sgdlab
