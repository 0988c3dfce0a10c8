#pragma once
// What the layer descriptions (one file each in this folder) share. Private to
// host/engine.
#include <nlohmann/json.hpp>
#include <string>

#include "../network_pass.hpp"
#include "sgdlab/engine/layer_type.hpp"

namespace sgdlab::layers {

// The integer `key` of a model file's object `j`, at least `min`; `fallback` when absent
// and allowed (model_file.cpp).
int read_integer(const nlohmann::json& j, const std::string& key, int min, const std::string& where,
                 const int* fallback = nullptr);

// The number `key` of a model file's object `j`, `fallback` when absent.
double read_number(const nlohmann::json& j, const std::string& key, double fallback,
                   const std::string& where);

// The output of a kernel sliding over `in` (conv2d, local2d, max-pool), or an InputError
// naming `where` when the input is smaller than the kernel.
Shape3 sliding_output(int channels, int kernel, int stride, int pad, const Shape3& in,
                      const std::string& where);

// The ONNX attributes of a k x k window with a stride and zero padding (Conv, MaxPool,
// AveragePool).
std::vector<OnnxAttribute> onnx_window(int kernel, int stride, int pad);

// " 3x3" or " 3x3/2" for the summary.
std::string kernel_text(const LayerSpec& s);

// A pool over k x k windows without padding, the stride the kernel unless given
// (max-pool, avg-pool): its keys, their checks, its output shape and summary.
class WindowPool : public LayerType {
 public:
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
  std::string summary(const LayerSpec& s) const override { return kernel_text(s); }

 protected:
  // The pool as the ONNX operator `op` (MaxPool, AveragePool).
  static OnnxValue pool_to_onnx(const OnnxLayer& c, const char* op) {
    const OnnxValue x = c.input_as_image();
    const LayerSpec& s = c.layer.spec;
    return {c.graph.node(op, c.name, {x.name}, onnx_window(s.kernel, s.stride, 0)), 4};
  }
};

// The descriptions, one per file.
const LayerType& dense();
const LayerType& conv2d();
const LayerType& local2d();
const LayerType& max_pool();
const LayerType& relu();
const LayerType& sigmoid();
const LayerType& tanh();
const LayerType& dropout();
const LayerType& avg_pool();
const LayerType& global_avg_pool();
const LayerType& batchnorm();

}  // namespace sgdlab::layers
