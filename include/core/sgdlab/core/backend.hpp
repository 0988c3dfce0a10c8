#pragma once
// The Backend: one interface for every lane-packed op, implemented for the CPU
// (kernels/cpu) and for CUDA (kernels/cuda). A Backend instance is an execution
// context: on CUDA it owns one stream, one cuBLAS and one cuDNN handle and one
// workspace, shared by every layer of the pack that runs on it.
//
// Memory: an op's pointers point to memory allocated by a backend of the same device.
// Memory that an op writes belongs to the backend that runs the op. Memory of another
// backend may be read once the upload() that filled it has returned and while nothing
// writes it: upload() returns only when the data is in place on the device (the CUDA
// backend waits for its stream). That is how several packs, each on its own backend
// and stream, share one data set (DeviceData).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/rate_schedule.hpp"

namespace sgdlab {

enum class Device { Cpu, Cuda };

// The device's peak FP32 arithmetic and memory bandwidth, from its properties; zero
// where unknown (the CPU backend does not guess).
struct PeakRates {
  double fp32_flops_per_s = 0;
  double bytes_per_s = 0;
};

// A recorded sequence of ops that can be replayed (a CUDA graph on the GPU; a plain
// call of the recorded function on the CPU).
class Recording {
 public:
  virtual ~Recording() = default;
  virtual void replay() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual Device device() const = 0;
  virtual std::string describe() const = 0;
  virtual PeakRates peak_rates() const { return {}; }
  // What the backend chose not to do and why (an autotuned kernel that disagreed with
  // cuDNN), since the last call; for the caller to show.
  virtual std::vector<std::string> take_warnings() { return {}; }

  // Memory and transfers. Transfers are ordered with the ops; upload() returns once the
  // data is on the device (readable by other backends of the device), download() once
  // it is on the host.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr) noexcept = 0;
  // Bytes of device memory still free (a GPU's; the host's memory is the engine's
  // available_host_memory()); SIZE_MAX where unknown.
  virtual size_t memory_available() const { return SIZE_MAX; }
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(void* dst, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // Named ranges for profilers (NVTX on CUDA, so that Nsight Systems shows a run's
  // structure); nested per thread. No-ops on the CPU.
  virtual void range_push(const char* name) {}
  virtual void range_pop() {}

  // Records `body` once so that replay() repeats it. Ops inside must take every
  // changing value from backend memory (counters, lane arrays), not from arguments.
  virtual std::unique_ptr<Recording> record(const std::function<void()>& body) = 0;

  // Chooses a dense shape's algorithms now, outside any recording. Optional.
  virtual void plan_dense(const DenseDims& d) {}
  // Dense layer on [B, T, in] -> [B, T, out].
  virtual void dense_forward(const DenseDims& d, const float* x, const float* w, const float* b,
                             float* y) = 0;
  // dx may be null (first layer). dw and db are overwritten.
  virtual void dense_backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                              float* dx, float* dw, float* db) = 0;

  virtual void conv2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                              float* y) = 0;
  virtual void conv2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                               float* dx, float* dw, float* db) = 0;
  // Chooses the algorithms and workspace of a convolution shape now, outside any
  // recording, so that they can be timed (BackendOptions::autotune). Optional: a shape
  // not planned is planned on first use.
  virtual void plan_conv2d(const ConvDims& d) {}

  virtual void local2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                               float* y) = 0;
  virtual void local2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                                float* dx, float* dw, float* db) = 0;

  virtual void maxpool_forward(const PoolDims& d, const float* x, float* y) = 0;
  virtual void maxpool_backward(const PoolDims& d, const float* x, const float* y, const float* dy,
                                float* dx) = 0;

  // The mean of each window (PyTorch's AvgPool2d, no padding); backward spreads each
  // output's gradient evenly over its window (dx is overwritten).
  virtual void avgpool_forward(const AvgPoolDims& d, const float* x, float* y) = 0;
  virtual void avgpool_backward(const AvgPoolDims& d, const float* dy, float* dx) = 0;

  // Batch normalisation (sgdlab/core/batchnorm.hpp). Training: each lane-channel
  // normalised with its batch mean and biased variance; for lanes whose state is
  // Training, the running statistics move by d.momentum (the variance's unbiased) and
  // tracked[t] += 1. Not training: normalised with the running statistics. A channel of
  // one value (d.values() == 1) has no batch statistics: the caller refuses it.
  virtual void batchnorm_forward(const BatchNormDims& d, bool training, const LaneArrays& lanes,
                                 const BatchNormTensors& p, const float* x, float* y) = 0;
  // The training forward's gradients, its batch statistics summed again from x: dx (may
  // be null), dgamma and dbeta (overwritten).
  virtual void batchnorm_backward(const BatchNormDims& d, const float* x, const float* gamma,
                                  const float* dy, float* dx, float* dgamma, float* dbeta) = 0;

  // Fused pairs, for fewer passes over memory and fewer launches; each equals the two
  // ops in turn. relu_maxpool: y = maxpool(relu(x)), the ReLU output not stored;
  // backward from the pre-ReLU x.
  virtual void relu_maxpool_forward(const PoolDims& d, const float* x, float* y) = 0;
  virtual void relu_maxpool_backward(const PoolDims& d, const float* x, const float* dy,
                                     float* dx) = 0;
  // act = a(x) (kept for the backward pass), y = dropout(act); backward from act.
  virtual void activation_dropout_forward(const ActivationDropoutDims& d, const LaneArrays& lanes,
                                          const int64_t* counters, const float* x, float* act,
                                          float* y) = 0;
  virtual void activation_dropout_backward(const ActivationDropoutDims& d, const LaneArrays& lanes,
                                           const int64_t* counters, const float* act,
                                           const float* dy, float* dx) = 0;

  // Elementwise; y may alias x, dx may alias dy. Backward uses the forward output.
  virtual void activation_forward(Activation a, size_t n, const float* x, float* y) = 0;
  virtual void activation_backward(Activation a, size_t n, const float* y, const float* dy,
                                   float* dx) = 0;

  // Inverted dropout with a per-lane drop rate; the mask is recomputed in backward.
  virtual void dropout_forward(const DropoutDims& d, const LaneArrays& lanes,
                               const int64_t* counters, const float* x, float* y) = 0;
  virtual void dropout_backward(const DropoutDims& d, const LaneArrays& lanes,
                                const int64_t* counters, const float* dy, float* dx) = 0;

  // Adds each lane's summed loss and correct count to loss_sum[t] and correct[t];
  // writes dlogits = (softmax - onehot) / B when dlogits is not null; sets state[t] to
  // LaneState::Diverged when a lane's loss is not finite (when state is not null).
  virtual void softmax_xent(const XentDims& d, const float* logits, const int32_t* labels,
                            float* dlogits, float* loss_sum, float* correct, LaneState* state) = 0;

  // Training-time augmentation (sgdlab/core/augment.hpp): image b of lane t, resampled
  // under its own random affine transform within lanes.augment[kAugmentFields t ..]
  // (shift, rotation, scale) and, where d.elastic and the lane's alpha is not 0, moved by
  // its elastic field (alpha, sigma), all drawn at counters[kCounterGlobalStep];
  // `background` outside.
  virtual void augment(const AugmentDims& d, const LaneArrays& lanes, const int64_t* counters,
                       float background, const float* x, float* y) = 0;

  // Class probabilities, [B, T, classes] -> [B, T, classes].
  virtual void softmax(const XentDims& d, const float* logits, float* probs) = 0;

  // v = mu * v + g; p -= lr * v, per lane over the flat buffer of `total` floats (the
  // slices and their padding); lanes that are not Training, and slices flagged
  // kSliceNotTrained, are skipped. The update ends a step: it
  // then advances the counters (counters[kCounterGlobalStep] and [kCounterEpochStep]
  // += 1) when they are not null, in the same launch on a GPU.
  virtual void sgd_momentum(const FlatDims& d, const LaneArrays& lanes, float* params,
                            const float* grads, float* velocity, int64_t* counters) = 0;

  // Adam (torch.optim.Adam) or, d.decoupled, AdamW, per lane with lanes.lr, lanes.adam
  // (beta1, beta2, eps) and lanes.weight_decay (weights only): m and v are the first
  // and second moments. The update's number (for the bias correction) is
  // counters[kCounterGlobalStep] + 1; it then advances the counters as sgd_momentum does.
  // Lanes that are not Training and slices flagged kSliceNotTrained are skipped.
  virtual void adam_update(const AdamDims& d, const LaneArrays& lanes, float* params,
                           const float* grads, float* m, float* v, int64_t* counters) = 0;

  // The parameters' moving average (sgdlab/core/ema_update.hpp), after a step's update:
  // each lane's decay lanes.ema[t] (0: the average is a copy), over every slice, the
  // state that is not trained included (as AveragedModel with use_buffers=True). The
  // lanes' first update (counters[kCounterGlobalStep] == 1, the update having advanced
  // it) copies. Lanes that are not Training keep their average.
  virtual void ema_update(const FlatDims& d, const LaneArrays& lanes, const int64_t* counters,
                          const float* params, float* average) = 0;

  // lr[t] = scheduled_rate(schedules[t], counters[kCounterGlobalStep]) for each of the T
  // lanes (sgdlab/core/rate_schedule.hpp): the rates of the step about to update, read
  // from backend memory so that a recorded step replays with the next step's rates.
  virtual void scheduled_rates(int T, const RateSchedule* schedules, const int64_t* counters,
                               float* lr) = 0;

  // Adds this step's mean |g| and L2 norm per lane, per layer and overall, to
  // accum[t * (d.n_layers + 1) * 2 + {2 * layer, 2 * layer + 1}] (overall at layer
  // d.n_layers).
  virtual void grad_stats(const GradStatsDims& d, const float* grads, float* accum) = 0;

  // x[b, t, :] = data[perm[t * d.perm_stride + first + b], :] and y[b, t] likewise, with
  // first = counters[kCounterEpochStep] * d.step_stride + d.offset (counters may be null:
  // first = d.offset).
  virtual void gather(const GatherDims& d, const float* data, const int32_t* labels,
                      const uint32_t* perm, const int64_t* counters, float* x, int32_t* y) = 0;

  // perm[t * n + i]: lane t's permutation of 0..n-1 for `epoch`, ordered by Philox keys
  // drawn from the lane's seed (ties by index), so that both backends agree.
  virtual void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) = 0;
};

// Pushes a profiler range for the lifetime of the object.
class ScopedRange {
 public:
  ScopedRange(Backend& backend, const char* name) : backend_(backend) { backend_.range_push(name); }
  ~ScopedRange() { backend_.range_pop(); }
  ScopedRange(const ScopedRange&) = delete;
  ScopedRange& operator=(const ScopedRange&) = delete;

 private:
  Backend& backend_;
};

// Which kernels run the convolutions on the GPU.
enum class ConvKernel {
  Auto,      // cuDNN; with autotune, sgdlab's lane-GEMM kernel where it times faster
  Cudnn,     // cuDNN only
  LaneGemm,  // sgdlab's lane-GEMM kernel for every direction (FP32)
};

// Choices a backend makes once, at creation.
struct BackendOptions {
  // TF32 tensor cores for cuBLAS GEMMs and cuDNN convolutions on the GPU (10-bit
  // mantissa products, FP32 sums); FP32 FMA when off. The CPU always computes in FP32.
  bool tf32 = false;
  // Time cuDNN's deterministic convolution algorithms per shape and keep the fastest
  // (as torch.backends.cudnn.benchmark); the choice, and so the last bits of a result,
  // may differ between runs. Off: cuDNN's heuristic choice, the same every run.
  bool autotune = false;
  ConvKernel conv_kernel = ConvKernel::Auto;
  // Dense layers through cuBLASLt with the bias (and its gradient) in the GEMM's
  // epilogue where cuBLASLt supports it; off: cuBLAS GEMMs and separate bias kernels.
  bool dense_epilogues = true;
};

std::unique_ptr<Backend> make_cpu_backend();
// Throws when CUDA support is not compiled in or no usable GPU is present.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options = {});
// Whether a CUDA device is usable right now (false without a driver or GPU); never throws.
bool cuda_available(std::string* why = nullptr);
bool cuda_compiled();

}  // namespace sgdlab
