#pragma once
// The forward and backward passes of a pack's network over its stages (single layers
// and fused pairs, model.hpp's make_stages), on one backend. The trainer owns the
// memory: the pass holds pointers to its parameters, gradients, lane arrays and
// counters, which stay put for the trainer's life. Private to host/engine.
#include <cstdint>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/buffer.hpp"
#include "sgdlab/engine/layer_type.hpp"
#include "sgdlab/engine/model.hpp"

namespace sgdlab {

// Buffers of one batch size: the input, every layer's output, the labels, the
// gradient of the logits and two ping-pong buffers for the backward pass.
struct Activations {
  int capacity = 0;
  Buffer<float> x;
  Buffer<int32_t> y;
  std::vector<Buffer<float>> outs;
  Buffer<float> dlogits, ping, pong;
  Buffer<float> raw;  // with augmentation: the gathered images, before it writes x
};

inline ConvDims conv_dims(const LayerPlan& l, int b, int T) {
  return {b, T, l.in.C, l.in.H, l.in.W, l.spec.units, l.spec.kernel, l.spec.stride, l.spec.pad};
}
inline PoolDims pool_dims(const LayerPlan& l, int b, int T) {
  return {b, T, l.in.C, l.in.H, l.in.W, l.spec.kernel, l.spec.stride};
}
inline DropoutDims dropout_dims(const LayerPlan& l, int b, int T) {
  return {b, T, int(l.out.size()), l.dropout_id};
}
Activation activation_of(LayerKind k);

class NetworkPass {
 public:
  NetworkPass(Backend& be, const NetworkPlan& plan, std::vector<Stage> stages, int T, float* params,
              float* grads, LaneArrays lanes, const int64_t* counters);

  // Runs the stages on a.x with batch b; returns the logits.
  const float* forward(Activations& a, int b, bool training) const;
  // Backpropagates a.dlogits through the stages, writing every parameter gradient.
  void backward(Activations& a, int b) const;

 private:
  LayerCall call(int i, int b) const;
  const float* forward_layer(Activations& a, int i, int b, bool training, const float* in) const;
  static const float* layer_input(const Activations& a, int i);
  void backward_layer(Activations& a, int i, int b, const float* dy, float* dx) const;

  Backend& be_;
  const NetworkPlan& plan_;
  std::vector<Stage> stages_;
  int T_;
  float* params_;
  float* grads_;
  LaneArrays lanes_;
  const int64_t* counters_;
  std::vector<std::vector<float*>> tensors_, grads_of_;  // per layer, in tensors() order
};

}  // namespace sgdlab
