// max-pool: the largest value of each k x k window, without padding; the stride is the
// kernel unless given.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

class MaxPool final : public WindowPool {
 public:
  LayerKind kind() const override { return LayerKind::MaxPool; }
  const char* type() const override { return "max-pool"; }
  const char* label() const override { return "maxpool"; }
  OnnxValue to_onnx(const OnnxLayer& c) const override { return pool_to_onnx(c, "MaxPool"); }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.maxpool_forward(pool_dims(c.layer, c.batch, c.lanes), in, out);
    return out;
  }
  void backward(const LayerCall& c, const float* in, const float* out, const float* dy,
                float* dx) const override {
    if (dx) c.be.maxpool_backward(pool_dims(c.layer, c.batch, c.lanes), in, out, dy, dx);
  }
};

}  // namespace

const LayerType& max_pool() {
  static const MaxPool m;
  return m;
}

}  // namespace sgdlab::layers
