#include "sgdlab/cost.hpp"

#include <algorithm>

namespace sgdlab {

TrainingCost training_cost(const ModelSpec& spec) {
  const NetworkPlan plan(spec, 1);
  TrainingCost cost;
  for (const auto& s : plan.slices()) cost.params += s.slice.count;  // without the padding
  bool first_with_params = true;
  cost.stored_floats_per_sample = double(plan.spec().input.size());
  for (const auto& l : plan.layers()) {
    const double in = double(l.in.size()), out = double(l.out.size());
    // Forward reads x and writes y; backward reads dy and a saved tensor (x or y, the
    // larger counted) and writes dx, except where no gradient flows further down.
    double bwd = out + std::max(in, out) + in;
    double macs = 0;
    switch (l.spec.kind) {
      case LayerKind::Dense:
      case LayerKind::Conv2d:
      case LayerKind::Local2d:
        // Every output element sums over one patch (or all inputs for dense).
        macs =
            out *
            (l.spec.kind == LayerKind::Dense ? in : double(l.in.C) * l.spec.kernel * l.spec.kernel);
        cost.forward_flops_per_sample += 2 * macs;
        cost.train_flops_per_sample += 2 * macs * (first_with_params ? 2 : 3);
        if (first_with_params) bwd -= in;
        first_with_params = false;
        break;
      default:
        break;
    }
    cost.activation_bytes_per_sample += sizeof(float) * (in + out + bwd);
    cost.stored_floats_per_sample += out;
  }
  cost.parameter_bytes_per_step = sizeof(float) * 8.0 * double(cost.params);
  return cost;
}

double working_set_bytes(const TrainingCost& cost, int lanes, int batch) {
  return sizeof(float) * double(lanes) *
         (3.0 * double(cost.params) + cost.stored_floats_per_sample * batch);
}

EpochFloor epoch_floor(const TrainingCost& cost, size_t samples, int batch, double flops_per_s,
                       double bytes_per_s) {
  EpochFloor f;
  const double steps = double((samples + size_t(batch) - 1) / size_t(batch));
  f.flops = cost.train_flops_per_sample * double(samples);
  f.bytes =
      cost.activation_bytes_per_sample * double(samples) + cost.parameter_bytes_per_step * steps;
  if (flops_per_s > 0) f.flop_seconds = f.flops / flops_per_s;
  if (bytes_per_s > 0) f.byte_seconds = f.bytes / bytes_per_s;
  return f;
}

}  // namespace sgdlab
