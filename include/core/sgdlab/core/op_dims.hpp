#pragma once
// Shapes of the lane-packed ops. Activations are [B, T, C, H, W] (batch outermost,
// lanes inside); every parameter tensor is lane-leading [T, ...].
#include <cstddef>
#include <cstdint>

#include "sgdlab/core/lane_state.hpp"

namespace sgdlab {

// y[b, t, :] = x[b, t, :] * W[t] + bias[t];  W is [T, in, out], bias [T, out].
struct DenseDims {
  int B, T, in, out;
};

// conv2d: W [T, Cout, Cin, k, k], bias [T, Cout].
// local2d: W [T, L, Cout, Cin*k*k], bias [T, L, Cout] with L = Ho*Wo (unshared weights).
struct ConvDims {
  int B, T, Cin, H, W, Cout, k, stride, pad;
  constexpr int Ho() const { return (H + 2 * pad - k) / stride + 1; }
  constexpr int Wo() const { return (W + 2 * pad - k) / stride + 1; }
  constexpr int L() const { return Ho() * Wo(); }
  constexpr int patch() const { return Cin * k * k; }
};

// Max-pool without padding over [B, T, C, H, W].
struct PoolDims {
  int B, T, C, H, W, k, stride;
  constexpr int Ho() const { return (H - k) / stride + 1; }
  constexpr int Wo() const { return (W - k) / stride + 1; }
};

// Average pooling without padding on [B, T, C, H, W]: a kh x kw window every sh rows
// and sw columns (global average pooling: the whole plane).
struct AvgPoolDims {
  int B, T, C, H, W, kh, kw, sh, sw;
  constexpr int Ho() const { return (H - kh) / sh + 1; }
  constexpr int Wo() const { return (W - kw) / sw + 1; }
};

// A minibatch gather (backend.hpp: gather): B rows of `features` floats for each of T
// lanes, lane t's rows through its permutation, which starts perm_stride entries after
// lane t - 1's (0: one shared permutation); step_stride rows a step (the full batch, also
// on a shorter last step) and `offset` more.
struct GatherDims {
  int B, T, features;
  size_t perm_stride, step_stride, offset;
};

// Dropout over [B, T, F]; `layer` keys the mask so that two dropout layers differ.
struct DropoutDims {
  int B, T, F;
  uint32_t layer;
};

// Softmax cross-entropy over logits [B, T, classes] with labels [B, T].
struct XentDims {
  int B, T, classes;
  // Training only: each lane's label smoothing eps in [0, 1) ([T]; null: none). The loss
  // and gradient are then PyTorch's cross_entropy(..., label_smoothing=eps): the target
  // is (1 - eps) on the label plus eps / classes on every class.
  const float* smoothing = nullptr;
};

enum class Activation : int { Relu, Sigmoid, Tanh };

// An activation and the dropout after it, in one pass.
struct ActivationDropoutDims {
  Activation activation;
  DropoutDims dropout;
};

// Batch normalisation over [B, T, C, HW] (HW = 1 after a dense layer): lane t's channel
// c is normalised over its B * HW values (PyTorch's BatchNorm2d per channel, BatchNorm1d
// per feature), and the lanes are just more channels.
struct BatchNormDims {
  int B, T, C, HW;
  float eps, momentum;
  constexpr size_t values() const { return size_t(B) * size_t(HW); }  // per channel
};

// A batchnorm layer's tensors, lane-leading: gamma, beta and the running statistics
// [T, C]; tracked [T], the training steps that moved them (num_batches_tracked).
template <class S>
struct BatchNormTensorsOf {
  const S* gamma;
  const S* beta;
  S* running_mean;
  S* running_var;
  S* tracked;
};
using BatchNormTensors = BatchNormTensorsOf<float>;

// Images [B, T, C, H, W] of a training step, for augmentation.
struct AugmentDims {
  int B, T, C, H, W;
  // Whether any lane has an elastic distortion (alpha != 0): without, the GPU skips the
  // displacement fields' pass. A lane's alpha counts only when this is set.
  bool elastic = false;
};

// One lane-leading parameter tensor inside the flat buffer: `count` elements for all
// lanes together, count / T per lane; `layer` indexes the per-layer statistics. Every
// slice starts on a multiple of kSliceAlignFloats (64 bytes), so that vector loads line
// up on either backend and cuBLASLt can be told the alignment.
constexpr size_t kSliceAlignFloats = 16;
struct ParamSlice {
  uint64_t offset;
  uint64_t count;
  int32_t layer;
  int32_t flags;  // kSliceIsBias, kSliceNotTrained
};
constexpr int32_t kSliceIsBias = 1;  // weight decay leaves it alone
// State that is not trained (a layer's running statistics): the optimiser leaves it
// alone; the layer's forward pass writes it.
constexpr int32_t kSliceNotTrained = 2;

// Per-lane hyperparameters and state, in backend memory. Changing a value never
// changes the shape of the work, so a captured step stays valid.
struct LaneArrays {
  const float* lr;        // [T]
  const float* momentum;  // [T]
  const float* dropout;   // [T], the drop probability
  const uint64_t* seed;   // [T]
  LaneState* state;       // [T]: only Training lanes take updates
  // Optional (null: off for every lane).
  const float* weight_decay = nullptr;  // [T], L2 on weights, coupled as in PyTorch's SGD
  const int32_t* nesterov = nullptr;    // [T], != 0: Nesterov momentum
  const float* augment = nullptr;       // [T * kAugmentFields] (sgdlab/core/augment.hpp)
  const float* adam = nullptr;          // [T * 3]: Adam's beta1, beta2 and eps
  const float* ema = nullptr;           // [T]: the moving average's decay (0: none)
};

// The Adam update over the flat parameter buffer (backend.hpp: adam_update).
struct AdamDims {
  const ParamSlice* slices;
  int n_slices, T;
  size_t total;    // floats in the flat buffers
  bool decoupled;  // AdamW's weight decay
};

// The slices of the flat parameter buffer, for the ops that run over all of it
// (backend.hpp: sgd_momentum, ema_update).
struct FlatDims {
  const ParamSlice* slices;
  int n_slices, T;
  size_t total;  // floats in the flat buffers
};

// Per-lane gradient statistics over the slices of a flat buffer, gathered per layer
// (ParamSlice::layer, 0 to n_layers - 1) and overall.
struct GradStatsDims {
  const ParamSlice* slices;
  int n_slices, n_layers, T;
};

// Step counters in backend memory, advanced by an op so that a replayed step sees
// the next step: [0] the lane-independent global step (keys dropout), [1] the step
// inside the epoch (selects the minibatch).
enum : int { kCounterGlobalStep = 0, kCounterEpochStep = 1, kCounterCount = 2 };

}  // namespace sgdlab
