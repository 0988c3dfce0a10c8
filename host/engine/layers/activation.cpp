// relu, sigmoid and tanh: elementwise, their backward computed from the output.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

class Elementwise final : public LayerType {
 public:
  Elementwise(LayerKind kind, const char* name, Activation a) : kind_(kind), name_(name), a_(a) {}
  LayerKind kind() const override { return kind_; }
  const char* type() const override { return name_; }
  const char* label() const override { return name_; }
  std::optional<Activation> activation() const override { return a_; }
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
};

}  // namespace

const LayerType& relu() {
  static const Elementwise r(LayerKind::Relu, "relu", Activation::Relu);
  return r;
}

const LayerType& sigmoid() {
  static const Elementwise s(LayerKind::Sigmoid, "sigmoid", Activation::Sigmoid);
  return s;
}

const LayerType& tanh() {
  static const Elementwise t(LayerKind::Tanh, "tanh", Activation::Tanh);
  return t;
}

}  // namespace sgdlab::layers
