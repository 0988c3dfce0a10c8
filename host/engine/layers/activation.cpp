// relu, sigmoid and tanh: elementwise, their backward computed from the output.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

class Elementwise final : public LayerType {
 public:
  Elementwise(LayerKind kind, const char* name, Activation a, const char* onnx_op)
      : kind_(kind), name_(name), a_(a), onnx_op_(onnx_op) {}
  LayerKind kind() const override { return kind_; }
  const char* type() const override { return name_; }
  const char* label() const override { return name_; }
  std::optional<Activation> activation() const override { return a_; }
  OnnxValue to_onnx(const OnnxLayer& c) const override {
    return {c.graph.node(onnx_op_, c.name, {c.input.name}), c.input.rank};
  }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.activation_forward(a_, size_t(c.batch) * c.lanes * c.layer.out.size(), in, out);
    return out;
  }
  void backward(const LayerCall& c, const float*, const float* out, const float* dy,
                float* dx) const override {
    if (dx)
      c.be.activation_backward(a_, size_t(c.batch) * c.lanes * c.layer.out.size(), out, dy, dx);
  }
  Saved saved() const override { return Saved::Output; }

 private:
  LayerKind kind_;
  const char* name_;
  Activation a_;
  const char* onnx_op_;
};

}  // namespace

const LayerType& relu() {
  static const Elementwise r(LayerKind::Relu, "relu", Activation::Relu, "Relu");
  return r;
}

const LayerType& sigmoid() {
  static const Elementwise s(LayerKind::Sigmoid, "sigmoid", Activation::Sigmoid, "Sigmoid");
  return s;
}

const LayerType& tanh() {
  static const Elementwise t(LayerKind::Tanh, "tanh", Activation::Tanh, "Tanh");
  return t;
}

}  // namespace sgdlab::layers
