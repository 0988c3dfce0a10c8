#include "network_pass.hpp"

namespace sgdlab {

Activation activation_of(LayerKind k) {
  return k == LayerKind::Relu      ? Activation::Relu
         : k == LayerKind::Sigmoid ? Activation::Sigmoid
                                   : Activation::Tanh;
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
      counters_(counters) {}

float* NetworkPass::weight(const LayerPlan& l, float* base) const {
  return base + plan_.slices()[l.weight_slice].slice.offset;
}

float* NetworkPass::bias(const LayerPlan& l, float* base) const {
  return base + plan_.slices()[l.bias_slice].slice.offset;
}

// Runs layer i on `in` with batch b; returns its output.
const float* NetworkPass::forward_layer(Activations& a, int i, int b, bool training,
                                        const float* in) const {
  const LayerPlan& l = plan_.layers()[i];
  float* out = a.outs[i].get();
  switch (l.spec.kind) {
    case LayerKind::Dense:
      be_.dense_forward({b, T_, int(l.in.size()), l.spec.units}, in, weight(l, params_),
                        bias(l, params_), out);
      break;
    case LayerKind::Conv2d:
      be_.conv2d_forward(conv_dims(l, b, T_), in, weight(l, params_), bias(l, params_), out);
      break;
    case LayerKind::Local2d:
      be_.local2d_forward(conv_dims(l, b, T_), in, weight(l, params_), bias(l, params_), out);
      break;
    case LayerKind::MaxPool:
      be_.maxpool_forward(pool_dims(l, b, T_), in, out);
      break;
    case LayerKind::Relu:
    case LayerKind::Sigmoid:
    case LayerKind::Tanh:
      be_.activation_forward(activation_of(l.spec.kind), size_t(b) * T_ * l.out.size(), in, out);
      break;
    case LayerKind::Dropout:
      if (!training) return in;  // the identity outside training
      be_.dropout_forward(dropout_dims(l, b, T_), lanes_, counters_, in, out);
      break;
  }
  return out;
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
          be_.activation_dropout_forward(activation_of(first.spec.kind),
                                         dropout_dims(second, b, T_), lanes_, counters_, in,
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
  const float* in = layer_input(a, i);
  const float* out = a.outs[i].get();
  const size_t n = size_t(b) * T_ * l.out.size();
  switch (l.spec.kind) {
    case LayerKind::Dense:
      be_.dense_backward({b, T_, int(l.in.size()), l.spec.units}, in, weight(l, params_), dy, dx,
                         weight(l, grads_), bias(l, grads_));
      break;
    case LayerKind::Conv2d:
      be_.conv2d_backward(conv_dims(l, b, T_), in, weight(l, params_), dy, dx, weight(l, grads_),
                          bias(l, grads_));
      break;
    case LayerKind::Local2d:
      be_.local2d_backward(conv_dims(l, b, T_), in, weight(l, params_), dy, dx, weight(l, grads_),
                           bias(l, grads_));
      break;
    case LayerKind::MaxPool:
      if (dx) be_.maxpool_backward(pool_dims(l, b, T_), in, out, dy, dx);
      break;
    case LayerKind::Relu:
    case LayerKind::Sigmoid:
    case LayerKind::Tanh:
      if (dx) be_.activation_backward(activation_of(l.spec.kind), n, out, dy, dx);
      break;
    case LayerKind::Dropout:
      if (dx) be_.dropout_backward(dropout_dims(l, b, T_), lanes_, counters_, dy, dx);
      break;
  }
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
          be_.activation_dropout_backward(activation_of(first.spec.kind),
                                          dropout_dims(second, b, T_), lanes_, counters_,
                                          a.outs[st.first].get(), dy, dx);
        break;
    }
    dy = dx;
  }
}

}  // namespace sgdlab
