#pragma once
// A test double's base: every Backend call goes to an inner backend, so that a spy
// overrides only the calls it watches (and a new op needs one line here, not one in
// every spy).
#include <memory>
#include <utility>

#include "sgdlab/core/backend.hpp"

namespace sgdlab::test {

class ForwardingBackend : public Backend {
 public:
  explicit ForwardingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

  Device device() const override { return inner_->device(); }
  std::string describe() const override { return inner_->describe(); }
  PeakRates peak_rates() const override { return inner_->peak_rates(); }
  std::vector<std::string> take_warnings() override { return inner_->take_warnings(); }
  void* allocate(size_t bytes) override { return inner_->allocate(bytes); }
  void deallocate(void* p) noexcept override { inner_->deallocate(p); }
  size_t memory_available() const override { return inner_->memory_available(); }
  void upload(void* d, const void* s, size_t n) override { inner_->upload(d, s, n); }
  void download(void* d, const void* s, size_t n) override { inner_->download(d, s, n); }
  void copy(void* d, const void* s, size_t n) override { inner_->copy(d, s, n); }
  void fill_zero(void* d, size_t n) override { inner_->fill_zero(d, n); }
  void synchronize() override { inner_->synchronize(); }
  void range_push(const char* name) override { inner_->range_push(name); }
  void range_pop() override { inner_->range_pop(); }
  // A replay calls the body, and so this backend's ops, again (as a CPU recording),
  // so that a spy sees every replayed call.
  std::unique_ptr<Recording> record(const std::function<void()>& body) override {
    struct Replay final : Recording {
      std::function<void()> body;
      void replay() override { body(); }
    };
    auto r = std::make_unique<Replay>();
    r->body = body;
    return r;
  }
  void plan_dense(const DenseDims& d) override { inner_->plan_dense(d); }
  void dense_forward(const DenseDims& d, const float* x, const float* w, const float* b,
                     float* y) override {
    inner_->dense_forward(d, x, w, b, y);
  }
  void dense_backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override {
    inner_->dense_backward(d, x, w, dy, dx, dw, db);
  }
  void conv2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                      float* y) override {
    inner_->conv2d_forward(d, x, w, b, y);
  }
  void conv2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    inner_->conv2d_backward(d, x, w, dy, dx, dw, db);
  }
  void plan_conv2d(const ConvDims& d) override { inner_->plan_conv2d(d); }
  void local2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                       float* y) override {
    inner_->local2d_forward(d, x, w, b, y);
  }
  void local2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                        float* dx, float* dw, float* db) override {
    inner_->local2d_backward(d, x, w, dy, dx, dw, db);
  }
  void maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    inner_->maxpool_forward(d, x, y);
  }
  void maxpool_backward(const PoolDims& d, const float* x, const float* y, const float* dy,
                        float* dx) override {
    inner_->maxpool_backward(d, x, y, dy, dx);
  }
  void relu_maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    inner_->relu_maxpool_forward(d, x, y);
  }
  void relu_maxpool_backward(const PoolDims& d, const float* x, const float* dy,
                             float* dx) override {
    inner_->relu_maxpool_backward(d, x, dy, dx);
  }
  void activation_dropout_forward(const ActivationDropoutDims& d, const LaneArrays& lanes,
                                  const int64_t* counters, const float* x, float* act,
                                  float* y) override {
    inner_->activation_dropout_forward(d, lanes, counters, x, act, y);
  }
  void activation_dropout_backward(const ActivationDropoutDims& d, const LaneArrays& lanes,
                                   const int64_t* counters, const float* act, const float* dy,
                                   float* dx) override {
    inner_->activation_dropout_backward(d, lanes, counters, act, dy, dx);
  }
  void activation_forward(Activation a, size_t n, const float* x, float* y) override {
    inner_->activation_forward(a, n, x, y);
  }
  void activation_backward(Activation a, size_t n, const float* y, const float* dy,
                           float* dx) override {
    inner_->activation_backward(a, n, y, dy, dx);
  }
  void dropout_forward(const DropoutDims& d, const LaneArrays& lanes, const int64_t* counters,
                       const float* x, float* y) override {
    inner_->dropout_forward(d, lanes, counters, x, y);
  }
  void dropout_backward(const DropoutDims& d, const LaneArrays& lanes, const int64_t* counters,
                        const float* dy, float* dx) override {
    inner_->dropout_backward(d, lanes, counters, dy, dx);
  }
  void softmax_xent(const XentDims& d, const float* logits, const int32_t* labels, float* dlogits,
                    float* loss_sum, float* correct, LaneState* state) override {
    inner_->softmax_xent(d, logits, labels, dlogits, loss_sum, correct, state);
  }
  void augment(const AugmentDims& d, const LaneArrays& lanes, const int64_t* counters,
               float background, const float* x, float* y) override {
    inner_->augment(d, lanes, counters, background, x, y);
  }
  void softmax(const XentDims& d, const float* logits, float* probs) override {
    inner_->softmax(d, logits, probs);
  }
  void sgd_momentum(const FlatDims& d, const LaneArrays& lanes, float* params, const float* grads,
                    float* velocity, int64_t* counters) override {
    inner_->sgd_momentum(d, lanes, params, grads, velocity, counters);
  }
  void avgpool_forward(const AvgPoolDims& d, const float* x, float* y) override {
    inner_->avgpool_forward(d, x, y);
  }
  void avgpool_backward(const AvgPoolDims& d, const float* dy, float* dx) override {
    inner_->avgpool_backward(d, dy, dx);
  }
  void ema_update(const FlatDims& d, const LaneArrays& lanes, const int64_t* counters,
                  const float* params, float* average) override {
    inner_->ema_update(d, lanes, counters, params, average);
  }
  void batchnorm_forward(const BatchNormDims& d, bool training, const LaneArrays& lanes,
                         const BatchNormTensors& p, const float* x, float* y) override {
    inner_->batchnorm_forward(d, training, lanes, p, x, y);
  }
  void batchnorm_backward(const BatchNormDims& d, const float* x, const float* gamma,
                          const float* dy, float* dx, float* dgamma, float* dbeta) override {
    inner_->batchnorm_backward(d, x, gamma, dy, dx, dgamma, dbeta);
  }
  void adam_update(const AdamDims& d, const LaneArrays& lanes, float* params, const float* grads,
                   float* m, float* v, int64_t* counters) override {
    inner_->adam_update(d, lanes, params, grads, m, v, counters);
  }
  void scheduled_rates(int T, const RateSchedule* schedules, const int64_t* counters,
                       float* lr) override {
    inner_->scheduled_rates(T, schedules, counters, lr);
  }
  void grad_stats(const GradStatsDims& d, const float* grads, float* accum) override {
    inner_->grad_stats(d, grads, accum);
  }
  void gather(const GatherDims& d, const float* data, const int32_t* labels, const uint32_t* perm,
              const int64_t* counters, float* x, int32_t* y) override {
    inner_->gather(d, data, labels, perm, counters, x, y);
  }
  void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) override {
    inner_->shuffle(T, n, seeds, epoch, perm);
  }

 protected:
  Backend& inner() { return *inner_; }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace sgdlab::test
