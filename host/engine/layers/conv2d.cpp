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
  OnnxValue to_onnx(const OnnxLayer& c) const override {
    const OnnxValue x = c.input_as_image();
    const LayerSpec& s = c.layer.spec;
    return {c.graph.node("Conv", c.name, {x.name, c.tensor(0), c.tensor(1)},
                         onnx_window(s.kernel, s.stride, s.pad)),
            4};
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
  OnnxValue to_onnx(const OnnxLayer& c) const override;
  void backward(const LayerCall& c, const float* in, const float*, const float* dy,
                float* dx) const override {
    c.be.local2d_backward(conv_dims(c.layer, c.batch, c.lanes), in, c.tensors[0], dy, dx,
                          c.grads[0], c.grads[1]);
  }
};

// ONNX has no locally connected operator. Standard ones that ONNX Runtime and OpenCV both
// run (docs/onnx.md): a Conv with fixed one-hot kernels copies each window into the
// channels, [N, C*k*k, Ho, Wo]; Reshape and Transpose put each location's window in a
// group of its own, [N, L*C*k*k, 1, 1] with L = Ho*Wo; a grouped 1x1 Conv with L groups
// applies each location's weights and bias, [N, L*out, 1, 1]; Reshape and Transpose give
// [N, out, Ho, Wo]. PyTorch's [L, out, C, k, k] weight is already the grouped Conv's
// [L*out, C*k*k, 1, 1] in memory, and the [L, out] bias its [L*out]. OpenCV 4.6 needs the
// 1x1 Conv's kernel_shape spelled out.
OnnxValue Local2d::to_onnx(const OnnxLayer& c) const {
  OnnxGraph& g = c.graph;
  const LayerPlan& l = c.layer;
  const std::string& name = c.name;
  const int64_t C = l.in.C, k = l.spec.kernel, window = C * k * k;
  const int64_t out = l.spec.units, Ho = l.out.H, Wo = l.out.W, L = Ho * Wo;
  std::vector<float> one_hot(size_t(window * window), 0.0f);
  for (int64_t i = 0; i < window; ++i) one_hot[size_t(i * window + i)] = 1.0f;
  const std::string patches =
      g.node("Conv", name + "/windows",
             {c.input_as_image().name, g.constant(name + "/one_hot", {window, C, k, k}, one_hot)},
             onnx_window(int(k), l.spec.stride, l.spec.pad));
  auto reshape = [&](const std::string& from, const char* to, std::vector<int64_t> shape) {
    return g.node("Reshape", name + "/" + to,
                  {from, g.int64_constant(name + "/" + to + "_shape", std::move(shape))});
  };
  auto swap_middle = [&](const std::string& from, const char* to) {
    return g.node("Transpose", name + "/" + to, {from},
                  {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  };
  const Tensor& w = c.tensors[0];
  const Tensor& b = c.tensors[1];
  std::string v = reshape(patches, "windows_by_location", {0, window, L, 1});
  v = swap_middle(v, "locations_by_window");
  v = reshape(v, "grouped", {0, L * window, 1, 1});
  v = g.node("Conv", name + "/per_location",
             {v, g.constant(w.name, {L * out, window, 1, 1}, w.data),
              g.constant(b.name, {L * out}, b.data)},
             {{"group", L}, {"kernel_shape", std::vector<int64_t>{1, 1}}});
  v = reshape(v, "locations_by_out", {0, L, out, 1});
  v = swap_middle(v, "out_by_locations");
  return {g.node("Reshape", name, {v, g.int64_constant(name + "/out_shape", {0, out, Ho, Wo})}), 4};
}

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
