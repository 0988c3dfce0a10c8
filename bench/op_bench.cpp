// Per-op timings on the study's shapes (batch 32) for packs of T lanes, on the CPU and,
// where a GPU is usable, on CUDA with each convolution kernel and math mode: where a
// training step's time goes, in the style of llm.c's kernel benchmarks. Google
// Benchmark; each timing covers kInner calls and one synchronisation, so a GPU op's
// time is its time in a stream of launches, not a launch plus a round trip.
//
//   build/sgdlab_op_bench [--benchmark_filter=conv] [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/buffer.hpp"
#include "sgdlab/engine/model.hpp"

namespace sgdlab {
namespace {

constexpr int kInner = 20;
constexpr int kBatch = 32;

Buffer<float> random_buffer(Backend& be, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> host(n);
  for (auto& v : host) v = u(rng);
  Buffer<float> b(be, n);
  b.upload(host);
  return b;
}

// Times `op` and reports FLOP and byte rates for the work it does per call.
void run(benchmark::State& state, Backend& be, const std::function<void()>& op, double flops,
         double bytes) {
  op();  // plans, workspaces, first-use costs
  be.synchronize();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kInner; ++i) op();
    be.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s / kInner);
  }
  if (flops > 0)
    state.counters["FLOP/s"] =
        benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["B/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

// Registers benchmarks named "<backend>/<op>/T<lanes>"; the backend outlives them.
class Registrar {
 public:
  Registrar(std::string name, Backend& be) : name_(std::move(name)), be_(be) {}
  Backend& backend() const { return be_; }
  void add(const std::string& op, int T, std::function<void(benchmark::State&)> body) const {
    benchmark::RegisterBenchmark((name_ + "/" + op + "/T" + std::to_string(T)).c_str(),
                                 [body](benchmark::State& s) { body(s); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }

 private:
  std::string name_;
  Backend& be_;
};

// The CNN's two convolutions, forward and backward (data and filter, and the bias).
void register_convolutions(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  for (const ConvDims d :
       {ConvDims{kBatch, T, 1, 16, 16, 32, 3, 1, 1}, ConvDims{kBatch, T, 32, 8, 8, 64, 3, 1, 1}}) {
    const std::string shape = "conv" + std::to_string(d.Cin) + "x" + std::to_string(d.Cout);
    const double macs = double(d.B) * d.T * d.Cout * d.L() * d.patch();
    const double nx = double(d.B) * d.T * d.Cin * d.H * d.W,
                 ny = double(d.B) * d.T * d.Cout * d.L(), nw = double(d.T) * d.Cout * d.patch();
    reg.add(shape + "_fwd", T, [&be, d, macs, nx, ny, nw](benchmark::State& s) {
      auto x = random_buffer(be, size_t(nx), 1), w = random_buffer(be, size_t(nw), 2),
           b = random_buffer(be, size_t(d.T) * d.Cout, 3);
      Buffer<float> y(be, size_t(ny));
      run(
          s, be, [&] { be.conv2d_forward(d, x.get(), w.get(), b.get(), y.get()); }, 2 * macs,
          4 * (nx + ny + nw));
    });
    reg.add(shape + "_bwd", T, [&be, d, macs, nx, ny, nw](benchmark::State& s) {
      auto x = random_buffer(be, size_t(nx), 1), w = random_buffer(be, size_t(nw), 2),
           dy = random_buffer(be, size_t(ny), 3);
      Buffer<float> dx(be, size_t(nx)), dw(be, size_t(nw)), db(be, size_t(d.T) * d.Cout);
      const bool data = d.Cin > 1;  // the first layer needs no input gradient
      run(
          s, be,
          [&] {
            be.conv2d_backward(d, x.get(), w.get(), dy.get(), data ? dx.get() : nullptr, dw.get(),
                               db.get());
          },
          2 * macs * (data ? 2 : 1), 4 * (2 * ny + (data ? 2 : 1) * nx + 2 * nw));
    });
  }
}

// The CNN's first dense layer.
void register_dense(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  const DenseDims dd{kBatch, T, 1024, 128};
  const double dmacs = double(dd.B) * dd.T * dd.in * dd.out;
  reg.add("dense1024x128_fwd", T, [&be, dd, dmacs](benchmark::State& s) {
    auto x = random_buffer(be, size_t(dd.B) * dd.T * dd.in, 1),
         w = random_buffer(be, size_t(dd.T) * dd.in * dd.out, 2),
         b = random_buffer(be, size_t(dd.T) * dd.out, 3);
    Buffer<float> y(be, size_t(dd.B) * dd.T * dd.out);
    run(
        s, be, [&] { be.dense_forward(dd, x.get(), w.get(), b.get(), y.get()); }, 2 * dmacs,
        4.0 * (x.size() + w.size() + y.size()));
  });
  reg.add("dense1024x128_bwd", T, [&be, dd, dmacs](benchmark::State& s) {
    auto x = random_buffer(be, size_t(dd.B) * dd.T * dd.in, 1),
         w = random_buffer(be, size_t(dd.T) * dd.in * dd.out, 2),
         dy = random_buffer(be, size_t(dd.B) * dd.T * dd.out, 3);
    Buffer<float> dx(be, x.size()), dw(be, w.size()), db(be, size_t(dd.T) * dd.out);
    run(
        s, be,
        [&] { be.dense_backward(dd, x.get(), w.get(), dy.get(), dx.get(), dw.get(), db.get()); },
        4 * dmacs, 4.0 * (2 * x.size() + 2 * w.size() + dy.size()));
  });
}

// The LCNN's locally connected layers.
void register_locally_connected(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  for (const ConvDims d :
       {ConvDims{kBatch, T, 1, 16, 16, 8, 3, 1, 0}, ConvDims{kBatch, T, 8, 14, 14, 16, 3, 2, 0}}) {
    const std::string shape = "local" + std::to_string(d.Cin) + "x" + std::to_string(d.Cout);
    const double macs = double(d.B) * d.T * d.Cout * d.L() * d.patch();
    const size_t nx = size_t(d.B) * d.T * d.Cin * d.H * d.W,
                 ny = size_t(d.B) * d.T * d.Cout * d.L(),
                 nw = size_t(d.T) * d.L() * d.Cout * d.patch(), nb = size_t(d.T) * d.L() * d.Cout;
    reg.add(shape + "_fwd", T, [&be, d, macs, nx, ny, nw, nb](benchmark::State& s) {
      auto x = random_buffer(be, nx, 1), w = random_buffer(be, nw, 2), b = random_buffer(be, nb, 3);
      Buffer<float> y(be, ny);
      run(
          s, be, [&] { be.local2d_forward(d, x.get(), w.get(), b.get(), y.get()); }, 2 * macs,
          4.0 * (nx + ny + nw));
    });
    reg.add(shape + "_bwd", T, [&be, d, macs, nx, ny, nw, nb](benchmark::State& s) {
      auto x = random_buffer(be, nx, 1), w = random_buffer(be, nw, 2),
           dy = random_buffer(be, ny, 3);
      Buffer<float> dx(be, nx), dw(be, nw), db(be, nb);
      const bool data = d.Cin > 1;
      run(
          s, be,
          [&] {
            be.local2d_backward(d, x.get(), w.get(), dy.get(), data ? dx.get() : nullptr, dw.get(),
                                db.get());
          },
          2 * macs * (data ? 2 : 1), 4.0 * (2 * ny + (data ? 2 : 1) * nx + 2 * nw));
    });
  }
}

// The CNN's first ReLU + pool, fused.
void register_pooling(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  const PoolDims pd{kBatch, T, 32, 16, 16, 2, 2};
  const size_t px = size_t(pd.B) * pd.T * pd.C * pd.H * pd.W, py = px / 4;
  reg.add("relu_maxpool_fwd_bwd", T, [&be, pd, px, py](benchmark::State& s) {
    auto x = random_buffer(be, px, 1), dy = random_buffer(be, py, 2);
    Buffer<float> y(be, py), dx(be, px);
    run(
        s, be,
        [&] {
          be.relu_maxpool_forward(pd, x.get(), y.get());
          be.relu_maxpool_backward(pd, x.get(), dy.get(), dx.get());
        },
        0, 4.0 * (3 * px + 2 * py));
  });
}

// The CNN's tanh + dropout, fused.
void register_activation_dropout(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  const DropoutDims od{kBatch, T, 128, 1};
  const size_t n = size_t(od.B) * od.T * od.F;
  reg.add("tanh_dropout_fwd_bwd", T, [&be, od, n, T](benchmark::State& s) {
    auto x = random_buffer(be, n, 1), dy = random_buffer(be, n, 2);
    Buffer<float> act(be, n), y(be, n), dx(be, n), rate(be, size_t(T));
    Buffer<uint64_t> seed(be, size_t(T));
    Buffer<int64_t> counters(be, kCounterCount);
    rate.upload(std::vector<float>(size_t(T), 0.3f));
    seed.upload(std::vector<uint64_t>(size_t(T), 7));
    counters.upload(std::vector<int64_t>(kCounterCount, 0));
    const LaneArrays lanes{nullptr, nullptr, rate.get(), seed.get(), nullptr};
    run(
        s, be,
        [&] {
          be.activation_dropout_forward({Activation::Tanh, od}, lanes, counters.get(), x.get(),
                                        act.get(), y.get());
          be.activation_dropout_backward({Activation::Tanh, od}, lanes, counters.get(), act.get(),
                                         dy.get(), dx.get());
        },
        0, 4.0 * 6 * n);
  });
}

// The update of a CNN pack: gradient statistics and SGD with momentum.
void register_update(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  reg.add("cnn_update", T, [&be, T](benchmark::State& s) {
    const NetworkPlan plan(model_preset("cnn"), T);
    auto params = random_buffer(be, plan.param_count(), 1),
         grads = random_buffer(be, plan.param_count(), 2);
    Buffer<float> velocity(be, plan.param_count()), lr(be, size_t(T)), mu(be, size_t(T)),
        accum(be, size_t(T) * (plan.param_layers() + 1) * 2);
    Buffer<LaneState> state(be, size_t(T));
    Buffer<ParamSlice> slices(be, plan.slices().size());
    velocity.zero();
    accum.zero();
    state.zero();
    lr.upload(std::vector<float>(size_t(T), 0.01f));
    mu.upload(std::vector<float>(size_t(T), 0.9f));
    slices.upload(plan.raw_slices());
    const LaneArrays lanes{lr.get(), mu.get(), nullptr, nullptr, state.get()};
    run(
        s, be,
        [&] {
          be.grad_stats({slices.get(), int(slices.size()), plan.param_layers(), T}, grads.get(),
                        accum.get());
          be.sgd_momentum({slices.get(), int(slices.size()), T, params.size()}, lanes, params.get(),
                          grads.get(), velocity.get(), nullptr);
        },
        0, 4.0 * 6 * plan.param_count());
  });
}

// cnn-bn's first batch norm (32 channels of 16x16), training forward and backward, and
// the evaluation forward.
void register_batchnorm(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  const BatchNormDims d{kBatch, T, 32, 256, 1e-5f, 0.1f};
  const size_t n = size_t(d.B) * d.T * d.C * d.HW, per = size_t(T) * d.C;
  reg.add("batchnorm_train_fwd_bwd", T, [&be, d, n, per, T](benchmark::State& s) {
    auto x = random_buffer(be, n, 1), dy = random_buffer(be, n, 2);
    auto gamma = random_buffer(be, per, 3), beta = random_buffer(be, per, 4);
    Buffer<float> y(be, n), dx(be, n), dg(be, per), db(be, per), mean(be, per), var(be, per),
        tracked(be, size_t(T));
    Buffer<LaneState> state(be, size_t(T));
    mean.zero();
    var.upload(std::vector<float>(per, 1.0f));
    tracked.zero();
    state.zero();
    const LaneArrays lanes{nullptr, nullptr, nullptr, nullptr, state.get()};
    const BatchNormTensors p{gamma.get(), beta.get(), mean.get(), var.get(), tracked.get()};
    // Forward reads x twice for its statistics, then x and y; backward x three times, dy
    // twice, then dx.
    run(
        s, be,
        [&] {
          be.batchnorm_forward(d, true, lanes, p, x.get(), y.get());
          be.batchnorm_backward(d, x.get(), gamma.get(), dy.get(), dx.get(), dg.get(), db.get());
        },
        0, 4.0 * 10 * n);
  });
  reg.add("batchnorm_eval_fwd", T, [&be, d, n, per, T](benchmark::State& s) {
    auto x = random_buffer(be, n, 1), gamma = random_buffer(be, per, 3),
         beta = random_buffer(be, per, 4), mean = random_buffer(be, per, 5);
    Buffer<float> y(be, n), var(be, per);
    var.upload(std::vector<float>(per, 1.0f));
    const LaneArrays lanes{};
    const BatchNormTensors p{gamma.get(), beta.get(), mean.get(), var.get(), nullptr};
    run(
        s, be, [&] { be.batchnorm_forward(d, false, lanes, p, x.get(), y.get()); }, 0, 4.0 * 2 * n);
  });
}

// cnn-gap's first average pool (32 channels, 16x16 to 8x8), forward and backward.
void register_avgpool(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  const AvgPoolDims d{kBatch, T, 32, 16, 16, 2, 2, 2, 2};
  const size_t px = size_t(d.B) * d.T * d.C * d.H * d.W, py = px / 4;
  reg.add("avgpool_fwd_bwd", T, [&be, d, px, py](benchmark::State& s) {
    auto x = random_buffer(be, px, 1), dy = random_buffer(be, py, 2);
    Buffer<float> y(be, py), dx(be, px);
    run(
        s, be,
        [&] {
          be.avgpool_forward(d, x.get(), y.get());
          be.avgpool_backward(d, dy.get(), dx.get());
        },
        0, 4.0 * (2 * px + 2 * py));
  });
}

// The update of a CNN pack with AdamW, then the moving average.
void register_adamw_ema(const Registrar& reg, int T) {
  Backend& be = reg.backend();
  reg.add("cnn_adamw_ema_update", T, [&be, T](benchmark::State& s) {
    const NetworkPlan plan(model_preset("cnn"), T);
    auto params = random_buffer(be, plan.param_count(), 1),
         grads = random_buffer(be, plan.param_count(), 2);
    Buffer<float> m(be, plan.param_count()), v(be, plan.param_count()),
        average(be, plan.param_count()), lr(be, size_t(T)), wd(be, size_t(T)),
        betas(be, size_t(T) * 3), decay(be, size_t(T));
    Buffer<LaneState> state(be, size_t(T));
    Buffer<ParamSlice> slices(be, plan.slices().size());
    Buffer<int64_t> counters(be, kCounterCount);
    m.zero();
    v.zero();
    average.zero();
    state.zero();
    lr.upload(std::vector<float>(size_t(T), 0.001f));
    wd.upload(std::vector<float>(size_t(T), 0.01f));
    decay.upload(std::vector<float>(size_t(T), 0.999f));
    std::vector<float> b;
    for (int t = 0; t < T; ++t) b.insert(b.end(), {0.9f, 0.999f, 1e-8f});
    betas.upload(b);
    slices.upload(plan.raw_slices());
    counters.upload(std::vector<int64_t>{5, 0});
    LaneArrays lanes{lr.get(), nullptr, nullptr, nullptr, state.get()};
    lanes.weight_decay = wd.get();
    lanes.adam = betas.get();
    lanes.ema = decay.get();
    const AdamDims ad{slices.get(), int(slices.size()), T, plan.param_count(), true};
    run(
        s, be,
        [&] {
          be.adam_update(ad, lanes, params.get(), grads.get(), m.get(), v.get(), counters.get());
          be.ema_update({slices.get(), int(slices.size()), T, plan.param_count()}, lanes,
                        counters.get(), params.get(), average.get());
        },
        0, 4.0 * 9 * plan.param_count());
  });
}

// The ops of one backend, pack size by pack size; `conv_only` for the backends that
// differ from the default one in their convolutions and math modes only.
void register_ops(const std::string& name, Backend& be, bool conv_only) {
  const Registrar reg(name, be);
  for (int T : {1, 8, 32}) {
    register_convolutions(reg, T);
    if (conv_only) continue;
    register_dense(reg, T);
    register_locally_connected(reg, T);
    register_pooling(reg, T);
    register_activation_dropout(reg, T);
    register_update(reg, T);
    register_batchnorm(reg, T);
    register_avgpool(reg, T);
    register_adamw_ema(reg, T);
  }
}

}  // namespace
}  // namespace sgdlab

int main(int argc, char** argv) {
  using namespace sgdlab;
  benchmark::Initialize(&argc, argv);
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(make_cpu_backend());
  register_ops("cpu", *backends.back(), false);
  if (cuda_available()) {
    backends.push_back(make_cuda_backend());
    register_ops("cuda", *backends.back(), false);
    // The convolutions again with each of the other kernels and math modes.
    backends.push_back(make_cuda_backend({false, false, ConvKernel::LaneGemm}));
    register_ops("cuda_lanegemm", *backends.back(), true);
    backends.push_back(make_cuda_backend({false, true}));
    register_ops("cuda_autotune", *backends.back(), true);
    backends.push_back(make_cuda_backend({true, false}));
    register_ops("cuda_tf32", *backends.back(), true);
    backends.push_back(make_cuda_backend({true, false, ConvKernel::LaneGemm}));
    register_ops("cuda_tf32_lanegemm", *backends.back(), true);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
