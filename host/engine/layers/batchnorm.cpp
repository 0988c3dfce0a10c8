// batchnorm: PyTorch's BatchNorm2d after a spatial layer (per channel over the batch and
// the plane) or BatchNorm1d after a dense one (per feature over the batch): each lane's
// own statistics, learnable gamma (1) and beta (0) without weight decay, and running
// mean and variance that the training forward pass moves and evaluation uses. Those and
// num_batches_tracked are tensors that are not trained, saved and resumed with the rest.
#include <cmath>

#include "layer_util.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab::layers {
namespace {

BatchNormDims dims(const LayerPlan& l, int batch, int lanes) {
  return {batch, lanes, l.in.C, l.in.H * l.in.W, float(l.spec.eps), float(l.spec.momentum)};
}

class BatchNorm final : public LayerType {
 public:
  LayerKind kind() const override { return LayerKind::BatchNorm; }
  const char* type() const override { return "batchnorm"; }
  const char* label() const override { return "bn"; }
  std::vector<std::string> keys() const override { return {"eps", "momentum"}; }
  void read(const nlohmann::json& j, LayerSpec& s, const std::string& where) const override {
    s.eps = read_number(j, "eps", s.eps, where);
    s.momentum = read_number(j, "momentum", s.momentum, where);
    // eps is added to a float variance: one below float's smallest normal is no eps.
    if (!(s.eps >= 1e-30 && s.eps <= 1))
      SGDLAB_INPUT_ERROR(where, ": \"eps\" must be > 0 (at least 1e-30) and at most 1, got ",
                         s.eps);
    if (!(s.momentum >= 0 && s.momentum <= 1))
      SGDLAB_INPUT_ERROR(where, ": \"momentum\" must be in [0, 1], got ", s.momentum);
  }
  void write(const LayerSpec& s, nlohmann::json& j) const override {
    const LayerSpec defaults{LayerKind::BatchNorm};
    if (s.eps != defaults.eps) j["eps"] = s.eps;
    if (s.momentum != defaults.momentum) j["momentum"] = s.momentum;
  }
  void check_after(const LayerSpec* previous, const std::string& where) const override {
    if (!previous)
      SGDLAB_INPUT_ERROR(where,
                         ": the first layer has only the input images to normalise, which "
                         "sgdlab's data scaling already does; put batchnorm after a conv2d, "
                         "local2d or dense layer");
    if (previous->kind == LayerKind::BatchNorm)
      SGDLAB_INPUT_ERROR(where, ": follows another batchnorm, whose output is already normalised");
  }
  std::vector<LayerTensor> tensors(const LayerPlan& l) const override {
    const int C = l.in.C;
    auto tensor = [&](const char* suffix, LayerTensor::Init init, bool trained) {
      LayerTensor t{suffix, size_t(C), {C}, false, init};
      t.decays = false;
      t.trained = trained;
      return t;
    };
    LayerTensor tracked = tensor("num_batches_tracked", LayerTensor::Zero, false);
    tracked.count = 1;
    tracked.torch_shape = {};  // a scalar in PyTorch
    return {tensor("weight", LayerTensor::One, true), tensor("bias", LayerTensor::Zero, true),
            tensor("running_mean", LayerTensor::Zero, false),
            tensor("running_var", LayerTensor::One, false), tracked};
  }
  const float* forward(const LayerCall& c, bool training, const float* in,
                       float* out) const override {
    const std::vector<float*>& t = c.tensors;
    c.be.batchnorm_forward(dims(c.layer, c.batch, c.lanes), training, c.lane_arrays,
                           {t[0], t[1], t[2], t[3], t[4]}, in, out);
    return out;
  }
  void backward(const LayerCall& c, const float* in, const float*, const float* dy,
                float* dx) const override {
    c.be.batchnorm_backward(dims(c.layer, c.batch, c.lanes), in, c.tensors[0], dy, dx, c.grads[0],
                            c.grads[1]);
  }
  // BatchNormalization with the running statistics, on an image or a flat input alike.
  OnnxValue to_onnx(const OnnxLayer& c) const override {
    return {c.graph.node("BatchNormalization", c.name,
                         {c.input.name, c.tensor(0), c.tensor(1), c.tensor(2), c.tensor(3)},
                         {{"epsilon", float(c.layer.spec.eps)}}),
            c.input.rank};
  }
  void check_training_rows(const LayerPlan& l, int rows) const override {
    if (size_t(rows) * l.in.H * l.in.W == 1)
      SGDLAB_INPUT_ERROR(l.label, " (batchnorm over ", l.in.C,
                         " features): a training step of 1 sample has no batch statistics, as in "
                         "PyTorch; choose a batch size above 1 whose remainder in the training "
                         "set's size is not 1");
  }
  std::string summary(const LayerSpec& s) const override {
    const LayerSpec defaults{LayerKind::BatchNorm};
    std::string out;
    if (s.momentum != defaults.momentum) out += " m=" + json_number(s.momentum);
    if (s.eps != defaults.eps) out += " eps=" + json_number(s.eps);
    return out;
  }

 private:
  static std::string json_number(double v) { return nlohmann::json(v).dump(); }
};

}  // namespace

const LayerType& batchnorm() {
  static const BatchNorm b;
  return b;
}

}  // namespace sgdlab::layers
