#pragma once
// Model specs, the three study presets, and the lane-packed plan built from a spec:
// layer shapes, the parameter slice table of the flat buffer, and initialisation.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab {

// Each kind is described in one place (layer_type.hpp, host/engine/layers/).
enum class LayerKind {
  Dense,
  Conv2d,
  Local2d,
  MaxPool,
  Relu,
  Sigmoid,
  Tanh,
  Dropout,
  AvgPool,
  GlobalAvgPool,
  BatchNorm
};
constexpr LayerKind kLastLayerKind = LayerKind::BatchNorm;  // keep it the last one

struct LayerSpec {
  LayerKind kind;
  int units = 0;  // output features (dense) or channels (conv2d, local2d)
  int kernel = 0;
  int stride = 1;
  int pad = 0;
  // batchnorm's (PyTorch's defaults).
  double eps = 1e-5;
  double momentum = 0.1;
};

struct Shape3 {
  int C = 0, H = 0, W = 0;
  size_t size() const { return size_t(C) * H * W; }
};

struct ModelSpec {
  std::string name;
  Shape3 input{1, 16, 16};
  int classes = 10;
  std::vector<LayerSpec> layers;
  std::string note;  // how the preset departs from or fills in the paper
};

// "mlp", "cnn" or "lcnn" (DESIGN §4); throws InputError for any other name.
ModelSpec model_preset(const std::string& name);
std::vector<std::string> model_preset_names();

struct LayerPlan {
  LayerSpec spec;
  Shape3 in, out;
  std::string label;     // "conv1", "relu", "dense2", ...
  int param_layer = -1;  // index among the layers with parameters, for statistics
  // The slices of the layer's tensors, in LayerType::tensors() order (dense, conv2d and
  // local2d: weight, bias).
  std::vector<int> tensor_slices;
  uint32_t dropout_id = 0;  // keys this layer's dropout masks
};

struct SliceInfo {
  std::string name;  // "conv1.weight"
  ParamSlice slice;
  int fan_in = 0, fan_out = 0;
  // Drawn: Xavier or uniform from the lane's seed; Zero (biases), One: filled.
  enum Init { Drawn, Zero, One } init = Drawn;
};

struct LayerTensor;

class NetworkPlan {
 public:
  NetworkPlan(ModelSpec spec, int lanes);

  const ModelSpec& spec() const { return spec_; }
  int lanes() const { return lanes_; }
  const std::vector<LayerPlan>& layers() const { return layers_; }
  const std::vector<SliceInfo>& slices() const { return slices_; }
  std::vector<ParamSlice> raw_slices() const;
  const std::vector<std::string>& param_layer_names() const { return param_layer_names_; }
  int param_layers() const { return int(param_layer_names_.size()); }
  size_t param_count() const { return total_; }  // all lanes
  size_t params_per_lane() const { return total_ / lanes_; }
  Shape3 output() const { return layers_.back().out; }
  std::string summary() const;

 private:
  int add_slice(const LayerPlan& l, const LayerTensor& t);

  ModelSpec spec_;
  int lanes_;
  std::vector<LayerPlan> layers_;
  std::vector<SliceInfo> slices_;
  std::vector<std::string> param_layer_names_;
  size_t total_ = 0;
};

// Layers that run as one fused op: ReLU then max-pool, or an activation then dropout;
// any other layer alone. A stage covers `count` layers from `first`.
struct Stage {
  enum Kind { Layer, ReluPool, ActivationDropout } kind;
  int first, count;
};

// The stages of a plan, every layer alone when `fuse` is false.
std::vector<Stage> make_stages(const NetworkPlan& plan, bool fuse);

enum class InitKind { Xavier, Uniform };

struct LaneInit {
  uint64_t seed = 0;
  InitKind kind = InitKind::Xavier;
  float low = 0, high = 0;  // for Uniform
};

// The flat parameter buffer for all lanes: weights Xavier-uniform (or uniform(low,
// high)) drawn from Philox keyed by the lane's seed, biases zero. A lane's values
// depend only on its own seed, not on its position in the pack.
std::vector<float> initial_parameters(const NetworkPlan& plan, const std::vector<LaneInit>& lanes);

// Copies lane `lane` of a flat buffer out as a T = 1 buffer, and back.
std::vector<float> extract_lane(const NetworkPlan& plan, const std::vector<float>& flat, int lane);
void insert_lane(const NetworkPlan& plan, const std::vector<float>& lane_params, int lane,
                 std::vector<float>& flat);

}  // namespace sgdlab
