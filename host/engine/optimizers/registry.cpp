// The one switch over optimiser kinds (-Werror=switch: a new kind without its entry
// does not compile).
#include "optimizers.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

const Optimizer& optimizer(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd:
      return sgd_optimizer();
    case OptimizerKind::Adam:
      return adam_optimizer();
    case OptimizerKind::AdamW:
      return adamw_optimizer();
  }
  SGDLAB_THROW("unknown optimizer kind ", int(kind));
}

const Optimizer& optimizer_named(const std::string& name, const std::string& where) {
  for (OptimizerKind k : all_optimizer_kinds())
    if (name == optimizer(k).name()) return optimizer(k);
  SGDLAB_INPUT_ERROR(where, ": unknown optimizer '", name, "' (expected sgd, adam or adamw)");
}

const std::vector<OptimizerKind>& all_optimizer_kinds() {
  static const std::vector<OptimizerKind> kinds = {OptimizerKind::Sgd, OptimizerKind::Adam,
                                                   OptimizerKind::AdamW};
  return kinds;
}

}  // namespace sgdlab
