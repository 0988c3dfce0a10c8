// dropout: each lane's own rate (LaneArrays::dropout), inverted scaling, the mask drawn
// from the lane's Philox stream at the global step and keyed by the layer, so backward
// draws it again instead of storing it. The identity outside training.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

class Dropout final : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::Dropout; }
  const char* type() const override { return "dropout"; }
  const char* label() const override { return "dropout"; }
  // Inference: the identity, left out of the graph.
  OnnxValue to_onnx(const OnnxLayer& c) const override { return c.input; }
  const float* forward(const LayerCall& c, bool training, const float* in,
                       float* out) const override {
    if (!training) return in;
    c.be.dropout_forward(dropout_dims(c.layer, c.batch, c.lanes), c.lane_arrays, c.counters, in,
                         out);
    return out;
  }
  void backward(const LayerCall& c, const float*, const float*, const float* dy,
                float* dx) const override {
    if (dx)
      c.be.dropout_backward(dropout_dims(c.layer, c.batch, c.lanes), c.lane_arrays, c.counters, dy,
                            dx);
  }
  Saved saved() const override { return Saved::Nothing; }
};

}  // namespace

const LayerType& dropout() {
  static const Dropout d;
  return d;
}

}  // namespace sgdlab::layers
