#include "network_pass.hpp"

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/layer_type.hpp"

namespace sgdlab {

Activation activation_of(LayerKind k) {
  const std::optional<Activation> a = layer_type(k).activation();
  SGDLAB_CHECK(a, "an activation layer, got ", layer_type(k).type());
  return *a;
}

NetworkPass::NetworkPass(Backend& be, const NetworkPlan& plan, std::vector<Stage> stages, int T,
                         float* params, float* grads, LaneArrays lanes, const int64_t* counters)
    : be_(be),
      plan_(plan),
      stages_(std::move(stages)),
      T_(T),
      params_(params),
      grads_(grads),
      lanes_(lanes),
      counters_(counters) {
  // Each layer's tensors and gradients in the flat buffers, found once: the passes only
  // hand them on.
  for (const LayerPlan& l : plan_.layers()) {
    tensors_.emplace_back();
    grads_of_.emplace_back();
    for (int s : l.tensor_slices) {
      tensors_.back().push_back(params_ + plan_.slices()[s].slice.offset);
      grads_of_.back().push_back(grads_ + plan_.slices()[s].slice.offset);
    }
  }
}

// Layer i's call on a batch of b rows.
LayerCall NetworkPass::call(int i, int b) const {
  return {be_, plan_.layers()[i], b, T_, tensors_[i], grads_of_[i], lanes_, counters_};
}

// Runs layer i on `in` with batch b; returns its output.
const float* NetworkPass::forward_layer(Activations& a, int i, int b, bool training,
                                        const float* in) const {
  const LayerPlan& l = plan_.layers()[i];
  return layer_type(l.spec.kind).forward(call(i, b), training, in, a.outs[i].get());
}

// Runs the stages on a.x with batch b; returns the logits.
const float* NetworkPass::forward(Activations& a, int b, bool training) const {
  ScopedRange range(be_, "forward");
  const float* in = a.x.get();
  for (const Stage& st : stages_) {
    const LayerPlan& first = plan_.layers()[st.first];
    const LayerPlan& second = plan_.layers()[st.first + st.count - 1];
    float* first_out = a.outs[st.first].get();
    float* second_out = a.outs[st.first + st.count - 1].get();
    switch (st.kind) {
      case Stage::Layer:
        in = forward_layer(a, st.first, b, training, in);
        break;
      case Stage::ReluPool:  // the ReLU's own output is never stored
        be_.relu_maxpool_forward(pool_dims(second, b, T_), in, second_out);
        in = second_out;
        break;
      case Stage::ActivationDropout:
        if (training) {
          be_.activation_dropout_forward(
              {activation_of(first.spec.kind), dropout_dims(second, b, T_)}, lanes_, counters_, in,
              first_out, second_out);
          in = second_out;
        } else {
          be_.activation_forward(activation_of(first.spec.kind), size_t(b) * T_ * first.out.size(),
                                 in, first_out);
          in = first_out;
        }
        break;
    }
  }
  return in;
}

// The input of layer i as the forward pass left it.
const float* NetworkPass::layer_input(const Activations& a, int i) {
  return i == 0 ? a.x.get() : a.outs[i - 1].get();
}

// Backpropagates dy through layer i into dx (null for the first layer).
void NetworkPass::backward_layer(Activations& a, int i, int b, const float* dy, float* dx) const {
  const LayerPlan& l = plan_.layers()[i];
  layer_type(l.spec.kind).backward(call(i, b), layer_input(a, i), a.outs[i].get(), dy, dx);
}

// Backpropagates a.dlogits through the stages, writing every parameter gradient.
void NetworkPass::backward(Activations& a, int b) const {
  ScopedRange range(be_, "backward");
  const float* dy = a.dlogits.get();
  for (int s = int(stages_.size()) - 1; s >= 0; --s) {
    const Stage& st = stages_[s];
    float* dx = st.first == 0 ? nullptr : (dy == a.ping.get() ? a.pong.get() : a.ping.get());
    const LayerPlan& first = plan_.layers()[st.first];
    const LayerPlan& second = plan_.layers()[st.first + st.count - 1];
    switch (st.kind) {
      case Stage::Layer:
        backward_layer(a, st.first, b, dy, dx);
        break;
      case Stage::ReluPool:
        if (dx)
          be_.relu_maxpool_backward(pool_dims(second, b, T_), layer_input(a, st.first), dy, dx);
        break;
      case Stage::ActivationDropout:
        if (dx)
          be_.activation_dropout_backward(
              {activation_of(first.spec.kind), dropout_dims(second, b, T_)}, lanes_, counters_,
              a.outs[st.first].get(), dy, dx);
        break;
    }
    dy = dx;
  }
}

}  // namespace sgdlab
