// Libraries initialise on their first call, and a first call inside a CUDA graph
// capture may synchronise and invalidate it. The trainer therefore runs every op of a
// recorded step once, eagerly and with the same shapes, before recording it. This
// checks that on the CPU with a spy backend whose record() behaves like a capture: the
// body's ops are logged, not run, and run only on replay.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

class SpyBackend final : public Backend {
 public:
  std::set<std::string> eager_before_first_capture, captured;

  Device device() const override { return Device::Cpu; }
  std::string describe() const override { return "spy"; }
  void* allocate(size_t bytes) override { return cpu_->allocate(bytes); }
  void deallocate(void* p) noexcept override { cpu_->deallocate(p); }
  void upload(void* d, const void* s, size_t n) override { cpu_->upload(d, s, n); }
  void download(void* d, const void* s, size_t n) override { cpu_->download(d, s, n); }
  void copy(void* d, const void* s, size_t n) override { cpu_->copy(d, s, n); }
  void fill_zero(void* d, size_t n) override { cpu_->fill_zero(d, n); }
  void synchronize() override {}

  // As a capture: the body's ops are seen (and logged) once, and run only on replay.
  std::unique_ptr<Recording> record(const std::function<void()>& body) override {
    capturing_ = true;
    body();
    capturing_ = false;
    captured_once_ = true;
    struct Replay final : Recording {
      SpyBackend& spy;
      std::function<void()> body;
      Replay(SpyBackend& s, std::function<void()> b) : spy(s), body(std::move(b)) {}
      void replay() override { body(); }
    };
    return std::make_unique<Replay>(*this, body);
  }

  void dense_forward(const DenseDims& d, const float* x, const float* w, const float* b,
                     float* y) override {
    if (seen("dense_forward", d.B, d.T, d.in, d.out)) cpu_->dense_forward(d, x, w, b, y);
  }
  void dense_backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override {
    if (seen("dense_backward", d.B, d.T, d.in, d.out, dx != nullptr))
      cpu_->dense_backward(d, x, w, dy, dx, dw, db);
  }
  void conv2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                      float* y) override {
    if (seen("conv2d_forward", d.B, d.T, d.Cin, d.H, d.W, d.Cout, d.k, d.stride, d.pad))
      cpu_->conv2d_forward(d, x, w, b, y);
  }
  void conv2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    if (seen("conv2d_backward", d.B, d.T, d.Cin, d.H, d.W, d.Cout, d.k, d.stride, d.pad,
             dx != nullptr))
      cpu_->conv2d_backward(d, x, w, dy, dx, dw, db);
  }
  void local2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                       float* y) override {
    if (seen("local2d_forward", d.B, d.T, d.Cin, d.H, d.W, d.Cout, d.k, d.stride, d.pad))
      cpu_->local2d_forward(d, x, w, b, y);
  }
  void local2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                        float* dx, float* dw, float* db) override {
    if (seen("local2d_backward", d.B, d.T, d.Cin, d.H, d.W, d.Cout, d.k, d.stride, d.pad,
             dx != nullptr))
      cpu_->local2d_backward(d, x, w, dy, dx, dw, db);
  }
  void maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    if (seen("maxpool_forward", d.B, d.T, d.C, d.H, d.W, d.k, d.stride))
      cpu_->maxpool_forward(d, x, y);
  }
  void maxpool_backward(const PoolDims& d, const float* x, const float* y, const float* dy,
                        float* dx) override {
    if (seen("maxpool_backward", d.B, d.T, d.C, d.H, d.W, d.k, d.stride))
      cpu_->maxpool_backward(d, x, y, dy, dx);
  }
  void relu_maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    if (seen("relu_maxpool_forward", d.B, d.T, d.C, d.H, d.W, d.k, d.stride))
      cpu_->relu_maxpool_forward(d, x, y);
  }
  void relu_maxpool_backward(const PoolDims& d, const float* x, const float* dy,
                             float* dx) override {
    if (seen("relu_maxpool_backward", d.B, d.T, d.C, d.H, d.W, d.k, d.stride))
      cpu_->relu_maxpool_backward(d, x, dy, dx);
  }
  void activation_dropout_forward(const ActivationDropoutDims& ad, const LaneArrays& l,
                                  const int64_t* c, const float* x, float* act, float* y) override {
    const DropoutDims& d = ad.dropout;
    if (seen("activation_dropout_forward", int(ad.activation), d.B, d.T, d.F))
      cpu_->activation_dropout_forward(ad, l, c, x, act, y);
  }
  void activation_dropout_backward(const ActivationDropoutDims& ad, const LaneArrays& l,
                                   const int64_t* c, const float* act, const float* dy,
                                   float* dx) override {
    const DropoutDims& d = ad.dropout;
    if (seen("activation_dropout_backward", int(ad.activation), d.B, d.T, d.F))
      cpu_->activation_dropout_backward(ad, l, c, act, dy, dx);
  }
  void activation_forward(Activation a, size_t n, const float* x, float* y) override {
    if (seen("activation_forward", int(a), n)) cpu_->activation_forward(a, n, x, y);
  }
  void activation_backward(Activation a, size_t n, const float* y, const float* dy,
                           float* dx) override {
    if (seen("activation_backward", int(a), n)) cpu_->activation_backward(a, n, y, dy, dx);
  }
  void dropout_forward(const DropoutDims& d, const LaneArrays& l, const int64_t* c, const float* x,
                       float* y) override {
    if (seen("dropout_forward", d.B, d.T, d.F)) cpu_->dropout_forward(d, l, c, x, y);
  }
  void dropout_backward(const DropoutDims& d, const LaneArrays& l, const int64_t* c,
                        const float* dy, float* dx) override {
    if (seen("dropout_backward", d.B, d.T, d.F)) cpu_->dropout_backward(d, l, c, dy, dx);
  }
  void softmax_xent(const XentDims& d, const float* z, const int32_t* y, float* dz, float* loss,
                    float* correct, LaneState* state) override {
    if (seen("softmax_xent", d.B, d.T, d.classes, dz != nullptr))
      cpu_->softmax_xent(d, z, y, dz, loss, correct, state);
  }
  void augment(const AugmentDims& d, const LaneArrays& l, const int64_t* c, float bg,
               const float* x, float* y) override {
    if (seen("augment", d.B, d.T, d.C, d.H, d.W)) cpu_->augment(d, l, c, bg, x, y);
  }
  void softmax(const XentDims& d, const float* z, float* p) override {
    if (seen("softmax", d.B, d.T, d.classes)) cpu_->softmax(d, z, p);
  }
  void sgd_momentum(const FlatDims& d, const LaneArrays& l, float* p, const float* g, float* v,
                    int64_t* c) override {
    if (seen("sgd_momentum", d.n_slices, d.T, d.total)) cpu_->sgd_momentum(d, l, p, g, v, c);
  }
  void grad_stats(const GradStatsDims& d, const float* g, float* acc) override {
    if (seen("grad_stats", d.n_slices, d.n_layers, d.T)) cpu_->grad_stats(d, g, acc);
  }
  void gather(const GatherDims& d, const float* data, const int32_t* labels, const uint32_t* perm,
              const int64_t* c, float* x, int32_t* y) override {
    if (seen("gather", d.B, d.T, d.features)) cpu_->gather(d, data, labels, perm, c, x, y);
  }
  void avgpool_forward(const AvgPoolDims& d, const float* x, float* y) override {
    if (seen("avgpool_forward", d.B, d.T, d.C, d.H, d.W, d.kh, d.kw, d.sh, d.sw))
      cpu_->avgpool_forward(d, x, y);
  }
  void avgpool_backward(const AvgPoolDims& d, const float* dy, float* dx) override {
    if (seen("avgpool_backward", d.B, d.T, d.C, d.H, d.W, d.kh, d.kw, d.sh, d.sw))
      cpu_->avgpool_backward(d, dy, dx);
  }
  void ema_update(const FlatDims& d, const LaneArrays& l, const int64_t* c, const float* p,
                  float* a) override {
    if (seen("ema_update", d.n_slices, d.T, d.total)) cpu_->ema_update(d, l, c, p, a);
  }
  void batchnorm_forward(const BatchNormDims& d, bool training, const LaneArrays& l,
                         const BatchNormTensors& p, const float* x, float* y) override {
    if (seen("batchnorm_forward", d.B, d.T, d.C, d.HW, training))
      cpu_->batchnorm_forward(d, training, l, p, x, y);
  }
  void batchnorm_backward(const BatchNormDims& d, const float* x, const float* gamma,
                          const float* dy, float* dx, float* dgamma, float* dbeta) override {
    if (seen("batchnorm_backward", d.B, d.T, d.C, d.HW, dx != nullptr))
      cpu_->batchnorm_backward(d, x, gamma, dy, dx, dgamma, dbeta);
  }
  void adam_update(const AdamDims& d, const LaneArrays& l, float* p, const float* g, float* m,
                   float* v, int64_t* c) override {
    if (seen("adam_update", d.n_slices, d.T, d.total, d.decoupled))
      cpu_->adam_update(d, l, p, g, m, v, c);
  }
  void scheduled_rates(int T, const RateSchedule* r, const int64_t* c, float* lr) override {
    if (seen("scheduled_rates", T)) cpu_->scheduled_rates(T, r, c, lr);
  }
  void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) override {
    if (seen("shuffle", T, n)) cpu_->shuffle(T, n, seeds, epoch, perm);
  }

 private:
  // Logs the op's signature; true when it is to run now (not while capturing).
  template <class... Args>
  bool seen(const char* op, Args... args) {
    std::ostringstream key;
    key << op;
    ((key << ' ' << args), ...);
    if (capturing_)
      captured.insert(key.str());
    else if (!captured_once_)
      eager_before_first_capture.insert(key.str());
    return !capturing_;
  }

  std::unique_ptr<Backend> cpu_ = make_cpu_backend();
  bool capturing_ = false, captured_once_ = false;
};

const UspsData& tiny_data() {
  static const UspsData data = usps_head(75, 20, 20);
  return data;
}

struct Case {
  const char* model;
  Capture capture;
  bool fuse;
};

class CaptureWarmUp : public ::testing::TestWithParam<Case> {};

TEST_P(CaptureWarmUp, EveryRecordedOpRanEagerlyFirst) {
  const Case c = GetParam();
  SpyBackend spy;
  DeviceData dd(spy, tiny_data());
  TrainerOptions o;
  o.batch = 32;  // 75 samples: two full steps and a tail of 11
  o.capture = c.capture;
  o.fuse = c.fuse;
  Trainer t(spy, dd, model_preset(c.model), {{0.01f, 0.9f, 0.3f, 1}, {0.02f, 0.5f, 0.0f, 2}}, o);
  t.train_epoch();
  t.train_epoch();
  ASSERT_FALSE(spy.captured.empty());
  for (const std::string& op : spy.captured)
    EXPECT_TRUE(spy.eager_before_first_capture.count(op))
        << op << " is first called inside the capture";
}

INSTANTIATE_TEST_SUITE_P(
    Models, CaptureWarmUp,
    ::testing::Values(Case{"mlp", Capture::Step, true}, Case{"cnn", Capture::Step, true},
                      Case{"lcnn", Capture::Step, true}, Case{"cnn", Capture::Step, false},
                      Case{"mlp", Capture::Epoch, false}, Case{"cnn", Capture::Epoch, true},
                      Case{"lcnn", Capture::Epoch, false}),
    [](const auto& info) {
      return std::string(info.param.model) +
             (info.param.capture == Capture::Step ? "_step" : "_epoch") +
             (info.param.fuse ? "_fused" : "_layers");
    });

}  // namespace
}  // namespace sgdlab::test
