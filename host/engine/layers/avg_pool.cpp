// avg-pool: the mean of each k x k window, without padding; the stride is the kernel
// unless given (PyTorch's AvgPool2d). global-avg-pool: the mean of each channel's whole
// plane, to C x 1 x 1 (AdaptiveAvgPool2d(1)). Backward needs neither input nor output.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

class AvgPool final : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::AvgPool; }
  const char* type() const override { return "avg-pool"; }
  const char* label() const override { return "avgpool"; }
  std::vector<std::string> keys() const override { return {"kernel", "stride"}; }
  void read(const nlohmann::json& j, LayerSpec& s, const std::string& where) const override {
    s.kernel = read_integer(j, "kernel", 1, where);
    s.stride = read_integer(j, "stride", 1, where, &s.kernel);
  }
  void write(const LayerSpec& s, nlohmann::json& j) const override {
    j["kernel"] = s.kernel;
    if (s.stride != s.kernel) j["stride"] = s.stride;
  }
  Shape3 output(const LayerSpec& s, const Shape3& in, const std::string& where) const override {
    return sliding_output(in.C, s.kernel, s.stride, 0, in, where);
  }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.avgpool_forward(dims(c), in, out);
    return out;
  }
  void backward(const LayerCall& c, const float*, const float*, const float* dy,
                float* dx) const override {
    if (dx) c.be.avgpool_backward(dims(c), dy, dx);
  }
  Saved saved() const override { return Saved::Nothing; }
  std::string summary(const LayerSpec& s) const override { return kernel_text(s); }

 private:
  static AvgPoolDims dims(const LayerCall& c) {
    const Shape3& in = c.layer.in;
    const int k = c.layer.spec.kernel, s = c.layer.spec.stride;
    return {c.batch, c.lanes, in.C, in.H, in.W, k, k, s, s};
  }
};

class GlobalAvgPool final : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::GlobalAvgPool; }
  const char* type() const override { return "global-avg-pool"; }
  const char* label() const override { return "gap"; }
  Shape3 output(const LayerSpec&, const Shape3& in, const std::string&) const override {
    return {in.C, 1, 1};
  }
  const float* forward(const LayerCall& c, bool, const float* in, float* out) const override {
    c.be.avgpool_forward(dims(c), in, out);
    return out;
  }
  void backward(const LayerCall& c, const float*, const float*, const float* dy,
                float* dx) const override {
    if (dx) c.be.avgpool_backward(dims(c), dy, dx);
  }
  Saved saved() const override { return Saved::Nothing; }

 private:
  static AvgPoolDims dims(const LayerCall& c) {
    const Shape3& in = c.layer.in;
    return {c.batch, c.lanes, in.C, in.H, in.W, in.H, in.W, in.H, in.W};
  }
};

}  // namespace

const LayerType& avg_pool() {
  static const AvgPool a;
  return a;
}

const LayerType& global_avg_pool() {
  static const GlobalAvgPool g;
  return g;
}

}  // namespace sgdlab::layers
