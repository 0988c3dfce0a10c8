#include "sgdlab/engine/cost.hpp"

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/layer_type.hpp"

namespace sgdlab {
namespace {

double saved_floats(Saved saved, double in, double out) {
  switch (saved) {
    case Saved::Input:
      return in;
    case Saved::Output:
      return out;
    case Saved::Nothing:
      return 0;
  }
  return in;
}

}  // namespace

TrainingCost training_cost(const ModelSpec& spec, bool fused) {
  const NetworkPlan plan(spec, 1);
  TrainingCost cost;
  for (const auto& s : plan.slices()) cost.params += s.slice.count;  // without the padding
  bool first_with_params = true;
  for (const auto& l : plan.layers()) {
    // Elementwise layers are left out: they move bytes, counted below.
    const double macs = layer_type(l.spec.kind).macs(l);
    if (macs == 0) continue;
    cost.forward_flops_per_sample += 2 * macs;
    cost.train_flops_per_sample += 2 * macs * (first_with_params ? 2 : 3);
    first_with_params = false;
  }

  // Floats moved per sample, stage by stage as the trainer runs them; dx is not
  // computed for the stage that reads the input.
  double moved = 0, stored = double(plan.spec().input.size());
  for (const Stage& st : make_stages(plan, fused)) {
    const LayerPlan& first = plan.layers()[st.first];
    const LayerPlan& last = plan.layers()[st.first + st.count - 1];
    const double in = double(first.in.size()), out = double(last.out.size());
    const double dx = st.first == 0 ? 0 : in;
    switch (st.kind) {
      case Stage::ReluPool:  // x -> pooled y; backward reads dy and x, writes dx
        moved += (in + out) + (out + in + dx);
        stored += out;
        break;
      case Stage::ActivationDropout:  // x -> act and y; backward reads dy and act
        moved += (in + 2 * out) + (out + out + dx);
        stored += 2 * out;
        break;
      case Stage::Layer: {
        // Backward reads what it saved: x for layers with weights and for pooling, y for
        // activations, nothing for dropout (the mask is drawn again).
        const double saved = saved_floats(layer_type(first.spec.kind).saved(), in, out);
        moved += (in + out) + (out + saved + dx);
        stored += out;
        break;
      }
    }
  }
  cost.activation_bytes_per_sample = sizeof(float) * moved;
  cost.stored_floats_per_sample = stored;
  cost.parameter_bytes_per_step = sizeof(float) * 8.0 * double(cost.params);
  return cost;
}

double working_set_bytes(const TrainingCost& cost, int lanes, int batch) {
  return sizeof(float) * double(lanes) *
         (3.0 * double(cost.params) + cost.stored_floats_per_sample * batch);
}

EpochFloor epoch_floor(const TrainingCost& cost, size_t samples, int batch, double flops_per_s,
                       double bytes_per_s) {
  SGDLAB_CHECK(batch > 0, "a batch of at least one sample, got ", batch);
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
