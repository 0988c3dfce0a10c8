// The one switch over layer kinds: -Werror=switch makes a kind without a description a
// compile error.
#include <sstream>

#include "layer_util.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

const LayerType& layer_type(LayerKind k) {
  switch (k) {
    case LayerKind::Dense:
      return layers::dense();
    case LayerKind::Conv2d:
      return layers::conv2d();
    case LayerKind::Local2d:
      return layers::local2d();
    case LayerKind::MaxPool:
      return layers::max_pool();
    case LayerKind::Relu:
      return layers::relu();
    case LayerKind::Sigmoid:
      return layers::sigmoid();
    case LayerKind::Tanh:
      return layers::tanh();
    case LayerKind::Dropout:
      return layers::dropout();
    case LayerKind::AvgPool:
      return layers::avg_pool();
    case LayerKind::GlobalAvgPool:
      return layers::global_avg_pool();
    case LayerKind::BatchNorm:
      return layers::batchnorm();
  }
  SGDLAB_THROW("unknown layer kind ", int(k));
}

const std::vector<LayerKind>& all_layer_kinds() {
  static const std::vector<LayerKind> kinds = [] {
    std::vector<LayerKind> out;
    for (int k = 0; k <= int(kLastLayerKind); ++k) out.push_back(LayerKind(k));
    return out;
  }();
  return kinds;
}

std::optional<LayerKind> layer_kind_named(const std::string& type) {
  for (LayerKind k : all_layer_kinds())
    if (type == layer_type(k).type()) return k;
  return std::nullopt;
}

std::string layer_type_names(const char* last_separator) {
  std::ostringstream out;
  const auto& kinds = all_layer_kinds();
  for (size_t i = 0; i < kinds.size(); ++i)
    out << (i == 0                  ? ""
            : i + 1 == kinds.size() ? last_separator
                                    : ", ")
        << layer_type(kinds[i]).type();
  return out.str();
}

namespace layers {

Shape3 sliding_output(int channels, int kernel, int stride, int pad, const Shape3& in,
                      const std::string& where) {
  if (in.H + 2 * pad < kernel || in.W + 2 * pad < kernel)
    SGDLAB_INPUT_ERROR(where, ": input ", in.C, "x", in.H, "x", in.W, " is smaller than kernel ",
                       kernel, " with pad ", pad);
  return {channels, (in.H + 2 * pad - kernel) / stride + 1, (in.W + 2 * pad - kernel) / stride + 1};
}

std::vector<OnnxAttribute> onnx_window(int kernel, int stride, int pad) {
  const int64_t k = kernel, s = stride, p = pad;
  return {{"kernel_shape", std::vector<int64_t>{k, k}},
          {"strides", std::vector<int64_t>{s, s}},
          {"pads", std::vector<int64_t>{p, p, p, p}}};
}

std::string kernel_text(const LayerSpec& s) {
  return " " + std::to_string(s.kernel) + "x" + std::to_string(s.kernel) +
         (s.stride > 1 ? "/" + std::to_string(s.stride) : "");
}

}  // namespace layers
}  // namespace sgdlab
