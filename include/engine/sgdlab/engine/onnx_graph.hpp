#pragma once
// A trained network for inference as a graph of standard ONNX operators: each layer kind
// writes its own nodes (LayerType::to_onnx), and host/onnx turns the graph into an ONNX
// model with the ONNX library's protobuf classes. The engine itself stays free of
// protobuf. docs/onnx.md gives each layer's operators.
#include <cstdint>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/safetensors.hpp"

namespace sgdlab {

struct OnnxAttribute {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>> value;
};

struct OnnxNode {
  std::string op;  // the operator's type in the default domain: "Conv", "Gemm", ...
  std::string name;
  std::vector<std::string> inputs, outputs;
  std::vector<OnnxAttribute> attributes;
};

// A constant (an initializer): float weights, or the int64 shapes that Reshape takes.
struct OnnxConstant {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> floats;  // the values, unless is_int64
  std::vector<int64_t> ints;  // the values when is_int64
  bool is_int64 = false;
};

// A value flowing between nodes: its name and rank (2: [N, features]; 4: [N, C, H, W]).
struct OnnxValue {
  std::string name;
  int rank = 4;
};

class OnnxGraph {
 public:
  // Adds a node with one output named `output` (unique in the graph); returns it.
  std::string node(const std::string& op, const std::string& output,
                   std::vector<std::string> inputs, std::vector<OnnxAttribute> attributes = {});
  std::string constant(const std::string& name, std::vector<int64_t> shape,
                       std::vector<float> values);
  std::string int64_constant(const std::string& name, std::vector<int64_t> values);

  // Renames the value `from` (a node's output) to `to` everywhere.
  void rename(const std::string& from, const std::string& to);

  const std::vector<OnnxNode>& nodes() const { return nodes_; }
  const std::vector<OnnxConstant>& constants() const { return constants_; }

 private:
  void claim(const std::string& name);

  std::vector<OnnxNode> nodes_;
  std::vector<OnnxConstant> constants_;
  std::set<std::string> names_;  // every value's, each used once
};

// What a layer's to_onnx gets: the graph, its plan, its name in the graph (the label,
// numbered per kind as PyTorch's children are: "relu2"), its tensors in PyTorch's layouts
// (in LayerType::tensors() order) and its input value.
struct OnnxLayer {
  OnnxGraph& graph;
  const LayerPlan& layer;
  std::string name;
  const std::vector<Tensor>& tensors;
  OnnxValue input;

  // The input as an image [N, C, H, W] (a Reshape after a dense layer) or flat [N, C*H*W]
  // (a Flatten after an image), adding the node where needed.
  OnnxValue input_as_image() const;
  OnnxValue input_flat() const;
  // Adds the layer's tensor `i` as a constant under its checkpoint name ("conv1.weight").
  std::string tensor(size_t i) const;
};

// The inference graph of one network (a T = 1 flat buffer, as a model checkpoint holds
// it): input "input" [N, C, H, W], outputs "logits" [N, classes] and "probabilities" (a
// Softmax over the classes). Dropout is left out; batch norm uses its running statistics.
OnnxGraph onnx_inference_graph(const ModelSpec& model, const std::vector<float>& params);

}  // namespace sgdlab
