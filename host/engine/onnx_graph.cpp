// The inference graph: each layer's description adds its own nodes (to_onnx); this file
// holds the graph, the shape adapters between flat and image values, and the head.
#include "sgdlab/engine/onnx_graph.hpp"

#include <map>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/layer_type.hpp"

namespace sgdlab {

void OnnxGraph::claim(const std::string& name) {
  SGDLAB_CHECK(names_.insert(name).second, "a value name used once in the graph, got a second ",
               name);
}

std::string OnnxGraph::node(const std::string& op, const std::string& output,
                            std::vector<std::string> inputs,
                            std::vector<OnnxAttribute> attributes) {
  claim(output);
  nodes_.push_back({op, output, std::move(inputs), {output}, std::move(attributes)});
  return output;
}

std::string OnnxGraph::constant(const std::string& name, std::vector<int64_t> shape,
                                std::vector<float> values) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  SGDLAB_CHECK(count == int64_t(values.size()), name, ": ", count, " values for its shape, got ",
               values.size());
  claim(name);
  constants_.push_back({name, std::move(shape), std::move(values), {}, false});
  return name;
}

std::string OnnxGraph::int64_constant(const std::string& name, std::vector<int64_t> values) {
  claim(name);
  const int64_t n = int64_t(values.size());
  constants_.push_back({name, {n}, {}, std::move(values), true});
  return name;
}

void OnnxGraph::rename(const std::string& from, const std::string& to) {
  claim(to);
  for (OnnxNode& n : nodes_) {
    for (std::string& s : n.inputs)
      if (s == from) s = to;
    for (std::string& s : n.outputs)
      if (s == from) s = to;
  }
}

OnnxValue OnnxLayer::input_as_image() const {
  if (input.rank == 4) return input;
  // [0, C, H, W]: 0 keeps the batch dimension.
  const Shape3& in = layer.in;
  const std::string shape = graph.int64_constant(name + "/image_shape", {0, in.C, in.H, in.W});
  return {graph.node("Reshape", name + "/image", {input.name, shape}), 4};
}

OnnxValue OnnxLayer::input_flat() const {
  if (input.rank == 2) return input;
  return {graph.node("Flatten", name + "/flat", {input.name}, {{"axis", int64_t(1)}}), 2};
}

std::string OnnxLayer::tensor(size_t i) const {
  SGDLAB_CHECK(i < tensors.size(), name, " has ", tensors.size(), " tensors, asked for ", i);
  return graph.constant(tensors[i].name, tensors[i].shape, tensors[i].data);
}

namespace {

// The tensors of each layer, in PyTorch's layouts, in the order of the layers.
std::vector<std::vector<Tensor>> tensors_by_layer(const NetworkPlan& single,
                                                  const std::vector<float>& params) {
  std::vector<Tensor> all = model_tensors(single, params);
  std::vector<std::vector<Tensor>> out;
  size_t next = 0;
  for (const LayerPlan& l : single.layers()) {
    const size_t n = l.tensor_slices.size();
    out.emplace_back(std::make_move_iterator(all.begin() + next),
                     std::make_move_iterator(all.begin() + next + n));
    next += n;
  }
  return out;
}

}  // namespace

OnnxGraph onnx_inference_graph(const ModelSpec& model, const std::vector<float>& params) {
  const NetworkPlan single(model, 1);
  SGDLAB_CHECK(params.size() == single.param_count(), "one lane's ", single.param_count(),
               " parameters, got ", params.size());
  const auto tensors = tensors_by_layer(single, params);
  OnnxGraph g;
  OnnxValue v{"input", 4};
  std::map<std::string, int> seen;  // per label
  for (size_t i = 0; i < single.layers().size(); ++i) {
    const LayerPlan& l = single.layers()[i];
    const LayerType& type = layer_type(l.spec.kind);
    const std::string name = type.label() + std::to_string(++seen[type.label()]);
    v = type.to_onnx(OnnxLayer{g, l, name, tensors[i], v});
  }
  // The head: logits [N, classes] (a network ending on an image, global average pooling
  // for one, is flattened), then the probabilities.
  if (v.rank != 2) v = {g.node("Flatten", "head/flat", {v.name}, {{"axis", int64_t(1)}}), 2};
  if (v.name == "input")
    v.name = g.node("Identity", "logits", {v.name});
  else
    g.rename(v.name, "logits");
  g.node("Softmax", "probabilities", {"logits"}, {{"axis", int64_t(1)}});
  return g;
}

}  // namespace sgdlab
