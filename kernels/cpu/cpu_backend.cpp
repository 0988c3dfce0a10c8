// The CPU backend: the reference kernels in this folder, instantiated for float.
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "cpu/activation.hpp"
#include "cpu/adam.hpp"
#include "cpu/augment.hpp"
#include "cpu/avgpool.hpp"
#include "cpu/batchnorm.hpp"
#include "cpu/conv2d.hpp"
#include "cpu/dense.hpp"
#include "cpu/dropout.hpp"
#include "cpu/ema.hpp"
#include "cpu/gather.hpp"
#include "cpu/grad_stats.hpp"
#include "cpu/local2d.hpp"
#include "cpu/maxpool.hpp"
#include "cpu/relu_maxpool.hpp"
#include "cpu/scheduled_rates.hpp"
#include "cpu/sgd.hpp"
#include "cpu/shuffle.hpp"
#include "cpu/softmax_xent.hpp"
#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

class CpuRecording final : public Recording {
 public:
  explicit CpuRecording(std::function<void()> body) : body_(std::move(body)) {}
  void replay() override { body_(); }

 private:
  std::function<void()> body_;
};

class CpuBackend final : public Backend {
 public:
  // BLAS calls run single-threaded inside our OpenMP loops (gemm_parallel): two thread
  // pools on two cores oversubscribe, and OpenBLAS's own threading changes sum order.
  CpuBackend() { openblas_set_num_threads(1); }
  Device device() const override { return Device::Cpu; }
  std::string describe() const override { return "cpu"; }

  void* allocate(size_t bytes) override {
    // 64-byte alignment for vector loads; aligned_alloc needs a multiple of it.
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
      SGDLAB_OUT_OF_MEMORY("out of host memory allocating ", bytes, " bytes (use fewer lanes, ",
                           "a smaller batch or a smaller model)");
    return p;
  }
  void deallocate(void* ptr) noexcept override { std::free(ptr); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fill_zero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void synchronize() override {}

  std::unique_ptr<Recording> record(const std::function<void()>& body) override {
    return std::make_unique<CpuRecording>(body);
  }

  void dense_forward(const DenseDims& d, const float* x, const float* w, const float* b,
                     float* y) override {
    cpu::dense_forward(d, x, w, b, y);
  }
  void dense_backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override {
    cpu::dense_backward_weight(d, x, dy, dw, db);
    if (dx) cpu::dense_backward_data(d, dy, w, dx);
  }

  void conv2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                      float* y) override {
    cpu::conv2d_forward(d, x, w, b, y, scratch(cpu::conv2d_workspace(d)));
  }
  void conv2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    cpu::conv2d_backward(d, x, w, dy, dx, dw, db, scratch(cpu::conv2d_workspace(d)));
  }

  void local2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                       float* y) override {
    cpu::local2d_forward(d, x, w, b, y);
  }
  void local2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                        float* dx, float* dw, float* db) override {
    cpu::local2d_backward(d, x, w, dy, dx, dw, db);
  }

  void maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    cpu::maxpool_forward(d, x, y);
  }
  void maxpool_backward(const PoolDims& d, const float* x, const float*, const float* dy,
                        float* dx) override {
    cpu::maxpool_backward(d, x, dy, dx);
  }

  void relu_maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    cpu::relu_maxpool_forward(d, x, y);
  }
  void relu_maxpool_backward(const PoolDims& d, const float* x, const float* dy,
                             float* dx) override {
    cpu::relu_maxpool_backward(d, x, dy, dx);
  }
  // On a CPU the pair runs as its two ops: the same numbers, and no launches to save.
  void activation_dropout_forward(const ActivationDropoutDims& ad, const LaneArrays& lanes,
                                  const int64_t* counters, const float* x, float* act,
                                  float* y) override {
    const DropoutDims& d = ad.dropout;
    cpu::activation_forward(ad.activation, size_t(d.B) * d.T * d.F, x, act);
    cpu::dropout_forward(d, lanes.dropout, lanes.seed, counters[kCounterGlobalStep], act, y);
  }
  void activation_dropout_backward(const ActivationDropoutDims& ad, const LaneArrays& lanes,
                                   const int64_t* counters, const float* act, const float* dy,
                                   float* dx) override {
    const DropoutDims& d = ad.dropout;
    cpu::dropout_backward(d, lanes.dropout, lanes.seed, counters[kCounterGlobalStep], dy, dx);
    cpu::activation_backward(ad.activation, size_t(d.B) * d.T * d.F, act, dx, dx);
  }

  void activation_forward(Activation a, size_t n, const float* x, float* y) override {
    cpu::activation_forward(a, n, x, y);
  }
  void activation_backward(Activation a, size_t n, const float* y, const float* dy,
                           float* dx) override {
    cpu::activation_backward(a, n, y, dy, dx);
  }

  void dropout_forward(const DropoutDims& d, const LaneArrays& lanes, const int64_t* counters,
                       const float* x, float* y) override {
    cpu::dropout_forward(d, lanes.dropout, lanes.seed, counters[kCounterGlobalStep], x, y);
  }
  void dropout_backward(const DropoutDims& d, const LaneArrays& lanes, const int64_t* counters,
                        const float* dy, float* dx) override {
    cpu::dropout_backward(d, lanes.dropout, lanes.seed, counters[kCounterGlobalStep], dy, dx);
  }

  void softmax_xent(const XentDims& d, const float* logits, const int32_t* labels, float* dlogits,
                    float* loss_sum, float* correct, LaneState* state) override {
    cpu::softmax_xent(d, logits, labels, dlogits, loss_sum, correct, state);
  }
  void augment(const AugmentDims& d, const LaneArrays& lanes, const int64_t* counters,
               float background, const float* x, float* y) override {
    cpu::augment(d, lanes.augment, lanes.seed, counters[kCounterGlobalStep], background, x, y);
  }
  void softmax(const XentDims& d, const float* logits, float* probs) override {
    cpu::softmax_rows(d, logits, probs);
  }

  void sgd_momentum(const FlatDims& d, const LaneArrays& lanes, float* params, const float* grads,
                    float* velocity, int64_t* counters) override {
    cpu::sgd_momentum(d.slices, d.n_slices, d.T, lanes.lr, lanes.momentum, lanes.state, params,
                      grads, velocity, lanes.weight_decay, lanes.nesterov);
    if (counters) {
      ++counters[kCounterGlobalStep];
      ++counters[kCounterEpochStep];
    }
  }
  void avgpool_forward(const AvgPoolDims& d, const float* x, float* y) override {
    cpu::avgpool_forward(d, x, y);
  }
  void avgpool_backward(const AvgPoolDims& d, const float* dy, float* dx) override {
    cpu::avgpool_backward(d, dy, dx);
  }
  void ema_update(const FlatDims& d, const LaneArrays& lanes, const int64_t* counters,
                  const float* params, float* average) override {
    const bool first = counters && counters[kCounterGlobalStep] == 1;
    cpu::ema_update(d, lanes.ema, lanes.state, first, params, average);
  }
  void batchnorm_forward(const BatchNormDims& d, bool training, const LaneArrays& lanes,
                         const BatchNormTensors& p, const float* x, float* y) override {
    cpu::batchnorm_forward(d, training, lanes.state, p, x, y);
  }
  void batchnorm_backward(const BatchNormDims& d, const float* x, const float* gamma,
                          const float* dy, float* dx, float* dgamma, float* dbeta) override {
    cpu::batchnorm_backward(d, x, gamma, dy, dx, dgamma, dbeta);
  }
  void adam_update(const AdamDims& d, const LaneArrays& lanes, float* params, const float* grads,
                   float* m, float* v, int64_t* counters) override {
    cpu::adam(d, lanes, counters[kCounterGlobalStep] + 1, params, grads, m, v);
    ++counters[kCounterGlobalStep];
    ++counters[kCounterEpochStep];
  }
  void scheduled_rates(int T, const RateSchedule* schedules, const int64_t* counters,
                       float* lr) override {
    cpu::scheduled_rates(T, schedules, counters, lr);
  }
  void grad_stats(const GradStatsDims& d, const float* grads, float* accum) override {
    cpu::grad_stats(d.slices, d.n_slices, d.n_layers, d.T, grads, accum);
  }

  void gather(const GatherDims& d, const float* data, const int32_t* labels, const uint32_t* perm,
              const int64_t* counters, float* x, int32_t* y) override {
    const size_t first =
        (counters ? size_t(counters[kCounterEpochStep]) * d.step_stride : 0) + d.offset;
    cpu::gather(d.B, d.T, d.features, data, labels, perm, d.perm_stride, first, x, y);
  }
  void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) override {
    cpu::shuffle(T, n, seeds, epoch, perm);
  }

 private:
  // One scratch area for the whole backend, grown on first use of a larger shape.
  float* scratch(size_t elements) {
    if (scratch_.size() < elements) scratch_.resize(elements);
    return scratch_.data();
  }
  std::vector<float> scratch_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() {
  return std::make_unique<CpuBackend>();
}

}  // namespace sgdlab
