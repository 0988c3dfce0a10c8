// conv2d and local2d: a k x k kernel sliding with a stride over a zero-padded input;
// conv2d shares its weights over the output locations, local2d has its own per location.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

// What the two share: keys, output shape, cost and summary.
class Sliding : public LayerType {
 public:
  std::vector<std::string> keys() const override { return {"out", "kernel", "stride", "pad"}; }
  void read(const nlohmann::json& j, LayerSpec& s, const std::string& where) const override {
    const int one = 1, zero = 0;
    s.units = read_integer(j, "out", 1, where);
    s.kernel = read_integer(j, "kernel", 1, where);
    s.stride = read_integer(j, "stride", 1, where, &one);
    s.pad = read_integer(j, "pad", 0, where, &zero);
  }
  void write(const LayerSpec& s, nlohmann::json& j) const override {
    j["out"] = s.units;
    j["kernel"] = s.kernel;
    if (s.stride != 1) j["stride"] = s.stride;
    if (s.pad != 0) j["pad"] = s.pad;
  }
  Shape3 output(const LayerSpec& s, const Shape3& in, const std::string& where) const override {
    return sliding_output(s.units, s.kernel, s.stride, s.pad, in, where);
  }
  double macs(const LayerPlan& l) const override {
    return double(l.out.size()) * double(l.in.C) * l.spec.kernel * l.spec.kernel;
  }
  std::string summary(const LayerSpec& s) const override { return kernel_text(s); }

 protected:
  // Weight and bias, shared by the output locations or one per location (PyTorch
  // shapes with a leading Ho * Wo).
  static std::vector<LayerTensor> weight_and_bias(const LayerPlan& l, bool per_location) {
    const int64_t out = l.spec.units, in = l.in.C, k = l.spec.kernel;
    const int64_t locations = per_location ? int64_t(l.out.H) * l.out.W : 1;
    const int fan_in = int(in * k * k), fan_out = int(out * k * k);
    std::vector<int64_t> w_shape = {out, in, k, k}, b_shape = {out};
    if (per_location) {
      w_shape.insert(w_shape.begin(), locations);
      b_shape.insert(b_shape.begin(), locations);
    }
    LayerTensor w{"weight", size_t(locations * out * in * k * k), w_shape};
    w.fan_in = fan_in;
    w.fan_out = fan_out;
    LayerTensor b{
        "bias", size_t(locations * out), b_shape, false, LayerTensor::Zero, fan_in, fan_out, false};
    return {w, b};
  }
};

class Conv2d final : public Sliding {
 public:
  LayerKind kind() const override { return LayerKind::Conv2d; }
  const char* type() const override { return "conv2d"; }
  const char* label() const override { return "conv"; }
  std::vector<LayerTensor> tensors(const LayerPlan& l) const override {
    return weight_and_bias(l, false);
  }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.conv2d_forward(conv_dims(c.layer, c.batch, c.lanes), in, c.tensors[0], c.tensors[1], out);
    return out;
  }
  void backward(const LayerCall& c, const float* in, const float*, const float* dy,
                float* dx) const override {
    c.be.conv2d_backward(conv_dims(c.layer, c.batch, c.lanes), in, c.tensors[0], dy, dx, c.grads[0],
                         c.grads[1]);
  }
  void plan(Backend& be, const LayerPlan& l, int rows, int lanes) const override {
    be.plan_conv2d(conv_dims(l, rows, lanes));
  }
};

class Local2d final : public Sliding {
 public:
  LayerKind kind() const override { return LayerKind::Local2d; }
  const char* type() const override { return "local2d"; }
  const char* label() const override { return "local"; }
  std::vector<LayerTensor> tensors(const LayerPlan& l) const override {
    return weight_and_bias(l, true);
  }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.local2d_forward(conv_dims(c.layer, c.batch, c.lanes), in, c.tensors[0], c.tensors[1], out);
    return out;
  }
  void backward(const LayerCall& c, const float* in, const float*, const float* dy,
                float* dx) const override {
    c.be.local2d_backward(conv_dims(c.layer, c.batch, c.lanes), in, c.tensors[0], dy, dx,
                          c.grads[0], c.grads[1]);
  }
};

}  // namespace

const LayerType& conv2d() {
  static const Conv2d c;
  return c;
}

const LayerType& local2d() {
  static const Local2d l;
  return l;
}

}  // namespace sgdlab::layers
