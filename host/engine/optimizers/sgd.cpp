// SGD with momentum (PyTorch's torch.optim.SGD, with weight decay and Nesterov per
// lane): one slot, the momentum buffer.
#include "optimizers.hpp"

namespace sgdlab {
namespace {

class Sgd final : public Optimizer {
 public:
  OptimizerKind kind() const override { return OptimizerKind::Sgd; }
  const char* name() const override { return "sgd"; }
  const std::vector<std::string>& slots() const override {
    static const std::vector<std::string> names = {"velocity"};
    return names;
  }
  void update(const OptimizerCall& c) const override {
    c.be.sgd_momentum({c.slices, c.n_slices, c.lanes, c.total}, c.lane_arrays, c.params, c.grads,
                      c.slots[0], c.counters);
  }
};

}  // namespace

const Optimizer& sgd_optimizer() {
  static const Sgd sgd;
  return sgd;
}

}  // namespace sgdlab
