// avg-pool: the mean of each k x k window, without padding; the stride is the kernel
// unless given (PyTorch's AvgPool2d). global-avg-pool: the mean of each channel's whole
// plane, to C x 1 x 1 (AdaptiveAvgPool2d(1)). Backward needs neither input nor output.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

// The forward and backward of an average pool over the windows Shape::dims gives.
template <class Shape>
class Averaging final : public Shape {
 public:
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.avgpool_forward(Shape::dims(c), in, out);
    return out;
  }
  void backward(const LayerCall& c, const float*, const float*, const float* dy,
                float* dx) const override {
    if (dx) c.be.avgpool_backward(Shape::dims(c), dy, dx);
  }
  Saved saved() const override { return Saved::Nothing; }
};

class AvgPoolShape : public WindowPool {
 public:
  LayerKind kind() const override { return LayerKind::AvgPool; }
  const char* type() const override { return "avg-pool"; }
  const char* label() const override { return "avgpool"; }
  OnnxValue to_onnx(const OnnxLayer& c) const override { return pool_to_onnx(c, "AveragePool"); }
  static AvgPoolDims dims(const LayerCall& c) {
    const Shape3& in = c.layer.in;
    const int k = c.layer.spec.kernel, s = c.layer.spec.stride;
    return {c.batch, c.lanes, in.C, in.H, in.W, k, k, s, s};
  }
};

class GlobalShape : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::GlobalAvgPool; }
  const char* type() const override { return "global-avg-pool"; }
  const char* label() const override { return "gap"; }
  OnnxValue to_onnx(const OnnxLayer& c) const override {
    return {c.graph.node("GlobalAveragePool", c.name, {c.input_as_image().name}), 4};
  }
  Shape3 output(const LayerSpec&, const Shape3& in, const std::string&) const override {
    return {in.C, 1, 1};
  }
  static AvgPoolDims dims(const LayerCall& c) {
    const Shape3& in = c.layer.in;
    return {c.batch, c.lanes, in.C, in.H, in.W, in.H, in.W, in.H, in.W};
  }
};

}  // namespace

const LayerType& avg_pool() {
  static const Averaging<AvgPoolShape> a;
  return a;
}

const LayerType& global_avg_pool() {
  static const Averaging<GlobalShape> g;
  return g;
}

}  // namespace sgdlab::layers
