// max-pool: the largest value of each k x k window, without padding; the stride is the
// kernel unless given.
#include "layer_util.hpp"

namespace sgdlab::layers {
namespace {

class MaxPool final : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::MaxPool; }
  const char* type() const override { return "max-pool"; }
  const char* label() const override { return "maxpool"; }
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
    c.be.maxpool_forward(pool_dims(c.layer, c.batch, c.lanes), in, out);
    return out;
  }
  void backward(const LayerCall& c, const float* in, const float* out, const float* dy,
                float* dx) const override {
    if (dx) c.be.maxpool_backward(pool_dims(c.layer, c.batch, c.lanes), in, out, dy, dx);
  }
  std::string summary(const LayerSpec& s) const override { return kernel_text(s); }
};

}  // namespace

const LayerType& max_pool() {
  static const MaxPool m;
  return m;
}

}  // namespace sgdlab::layers
