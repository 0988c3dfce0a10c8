#pragma once
// One description per layer kind, in its own file under host/engine/layers/, which
// everything that handles layers asks: the model file (its type name, keys and their
// checks), the plan (output shape, the tensors and their initialisation), the passes
// (forward and backward on a backend), planning, the cost, the checkpoint (names and
// PyTorch shapes), the summary and the ONNX export. layer_type() is the one switch over the kinds,
// and the engine builds with -Werror=switch: a kind without a description does not compile.
// docs/adding-a-layer.md walks through a new kind.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/onnx_graph.hpp"

namespace sgdlab {

// A tensor of a layer, per lane. The flat buffer keeps it lane-leading in sgdlab's
// layout; the checkpoint in PyTorch's (`torch_shape`), which for a dense weight is the
// transpose ([out, in] of sgdlab's [in, out]).
struct LayerTensor {
  std::string suffix;  // "weight": the tensor is "<label><n>.weight"
  size_t count = 0;
  std::vector<int64_t> torch_shape;
  bool transposed = false;                          // sgdlab keeps it as torch_shape's [1] x [0]
  enum Init { Weights, Zero, One } init = Weights;  // Weights: Xavier (or uniform) from fans
  int fan_in = 0, fan_out = 0;
  bool decays = true;  // weight decay applies (not to biases)
  // false: state that is not trained (running statistics), which the layer's forward
  // pass writes and the optimiser leaves alone; kept and saved with the parameters.
  bool trained = true;
};

// What backward reads of its forward pass, for the cost model.
enum class Saved { Input, Output, Nothing };

// Everything one layer's forward or backward call needs from the pass: the backend,
// the layer's plan, the batch and lanes, its tensors (in tensors() order) and their
// gradients, the lanes' arrays and the step counters.
struct LayerCall {
  Backend& be;
  const LayerPlan& layer;
  int batch, lanes;
  const std::vector<float*>& tensors;
  const std::vector<float*>& grads;
  const LaneArrays& lane_arrays;
  const int64_t* counters;
};

class LayerType {
 public:
  virtual ~LayerType() = default;
  virtual LayerKind kind() const = 0;
  // The model file's "type" ("max-pool").
  virtual const char* type() const = 0;
  // The stem of tensor names and PyTorch children ("conv": "conv1.weight"); layers with
  // tensors are numbered per label.
  virtual const char* label() const = 0;

  // The model file's keys besides "type", read with their checks (InputError naming
  // `where`), and written back (defaults left out).
  virtual std::vector<std::string> keys() const { return {}; }
  virtual void read(const nlohmann::json& j, LayerSpec& s, const std::string& where) const {}
  virtual void write(const LayerSpec& s, nlohmann::json& j) const {}

  // Refuses, with an InputError naming `where`, a layer that cannot stand after
  // `previous` (null: the layer is the first).
  virtual void check_after(const LayerSpec* previous, const std::string& where) const {}
  // The output shape for an input shape; InputError naming `where` when there is none.
  virtual Shape3 output(const LayerSpec& s, const Shape3& in, const std::string& where) const {
    return in;
  }
  // The layer's tensors, per lane.
  virtual std::vector<LayerTensor> tensors(const LayerPlan& l) const { return {}; }
  // An activation, for the fused stages (make_stages).
  virtual std::optional<Activation> activation() const { return std::nullopt; }

  // Writes `out` from `in` (training: the step's forward pass); returns where the output
  // is, which a layer that is the identity (dropout outside training) may leave at `in`.
  virtual const float* forward(const LayerCall& c, bool training, const float* in,
                               float* out) const = 0;
  // Writes dx (null for the network's first layer) and every tensor's gradient.
  virtual void backward(const LayerCall& c, const float* in, const float* out, const float* dy,
                        float* dx) const = 0;
  // Sets up a backend's plans for `rows` rows, before a step is recorded.
  virtual void plan(Backend& be, const LayerPlan& l, int rows, int lanes) const {}
  // An InputError for a training step of `rows` rows that the layer cannot train (batch
  // norm over one value), asked when a trainer that trains is made.
  virtual void check_training_rows(const LayerPlan& l, int rows) const {}

  // Adds the layer's inference nodes to an ONNX graph (docs/onnx.md); returns its output.
  // Every kind says it: a network that cannot be exported is not a choice left to chance.
  virtual OnnxValue to_onnx(const OnnxLayer& c) const = 0;

  // Multiply-adds per sample of the forward pass (0: elementwise, left out of the cost).
  virtual double macs(const LayerPlan& l) const { return 0; }
  virtual Saved saved() const { return Saved::Input; }
  // What the summary prints after the label ("3x3/2"), or "".
  virtual std::string summary(const LayerSpec& s) const { return ""; }
};

// The description of a kind.
const LayerType& layer_type(LayerKind k);
// Every kind, in the enum's order.
const std::vector<LayerKind>& all_layer_kinds();
// The kind of a model file's type name, if any; the names, for messages.
std::optional<LayerKind> layer_kind_named(const std::string& type);
std::string layer_type_names(const char* last_separator);

}  // namespace sgdlab
