// Adam and AdamW (torch.optim.Adam and AdamW, amsgrad off): two slots, the first and
// second moments under PyTorch's names; the lanes' betas and eps in LaneArrays::adam.
#include "optimizers.hpp"

namespace sgdlab {
namespace {

class Adam final : public Optimizer {
 public:
  explicit Adam(bool decoupled) : decoupled_(decoupled) {}
  OptimizerKind kind() const override {
    return decoupled_ ? OptimizerKind::AdamW : OptimizerKind::Adam;
  }
  const char* name() const override { return decoupled_ ? "adamw" : "adam"; }
  const std::vector<std::string>& slots() const override {
    static const std::vector<std::string> names = {"exp_avg", "exp_avg_sq"};
    return names;
  }
  bool uses_betas() const override { return true; }
  void update(const OptimizerCall& c) const override {
    c.be.adam_update({c.slices, c.n_slices, c.lanes, c.total, decoupled_}, c.lane_arrays, c.params,
                     c.grads, c.slots[0], c.slots[1], c.counters);
  }

 private:
  bool decoupled_;
};

}  // namespace

const Optimizer& adam_optimizer() {
  static const Adam adam(false);
  return adam;
}

const Optimizer& adamw_optimizer() {
  static const Adam adamw(true);
  return adamw;
}

}  // namespace sgdlab
