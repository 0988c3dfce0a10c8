// dense: y = x W + b over the flattened input. sgdlab keeps W as [in, out] per lane;
// PyTorch's Linear as [out, in].
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

DenseDims dims(const LayerPlan& l, int batch, int lanes) {
  return {batch, lanes, int(l.in.size()), l.spec.units};
}

class Dense final : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::Dense; }
  const char* type() const override { return "dense"; }
  const char* label() const override { return "dense"; }
  std::vector<std::string> keys() const override { return {"out"}; }
  void read(const nlohmann::json& j, LayerSpec& s, const std::string& where) const override {
    s.units = read_integer(j, "out", 1, where);
  }
  void write(const LayerSpec& s, nlohmann::json& j) const override { j["out"] = s.units; }
  Shape3 output(const LayerSpec& s, const Shape3&, const std::string&) const override {
    return {s.units, 1, 1};
  }
  std::vector<LayerTensor> tensors(const LayerPlan& l) const override {
    const int in = int(l.in.size()), out = l.spec.units;
    LayerTensor w{"weight", size_t(in) * out, {out, in}, true};
    w.fan_in = in;
    w.fan_out = out;
    LayerTensor b{"bias", size_t(out), {out}, false, LayerTensor::Zero, in, out, false};
    return {w, b};
  }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.dense_forward(dims(c.layer, c.batch, c.lanes), in, c.tensors[0], c.tensors[1], out);
    return out;
  }
  void backward(const LayerCall& c, const float* in, const float*, const float* dy,
                float* dx) const override {
    c.be.dense_backward(dims(c.layer, c.batch, c.lanes), in, c.tensors[0], dy, dx, c.grads[0],
                        c.grads[1]);
  }
  // Gemm with PyTorch's [out, in] weight, after a Flatten where the input is an image.
  OnnxValue to_onnx(const OnnxLayer& c) const override {
    const OnnxValue x = c.input_flat();
    return {
        c.graph.node("Gemm", c.name, {x.name, c.tensor(0), c.tensor(1)}, {{"transB", int64_t(1)}}),
        2};
  }
  void plan(Backend& be, const LayerPlan& l, int rows, int lanes) const override {
    be.plan_dense(dims(l, rows, lanes));
  }
  double macs(const LayerPlan& l) const override {
    return double(l.out.size()) * double(l.in.size());
  }
};

}  // namespace

const LayerType& dense() {
  static const Dense d;
  return d;
}

}  // namespace sgdlab::layers
