// The one switch over optimiser kinds (-Werror=switch: a new kind without its entry
// does not compile).
#include "optimizers.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

const Optimizer& optimizer(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd:
      return sgd_optimizer();
  }
  SGDLAB_THROW("unknown optimizer kind ", int(kind));
}

const Optimizer& optimizer_named(const std::string& name, const std::string& where) {
  for (OptimizerKind k : {OptimizerKind::Sgd})
    if (name == optimizer(k).name()) return optimizer(k);
  SGDLAB_INPUT_ERROR(where, ": unknown optimizer '", name, "' (expected sgd)");
}

}  // namespace sgdlab
