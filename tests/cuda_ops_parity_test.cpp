// Every op on the CPU and CUDA backends with the same random inputs (T > 1): FP32, TF32
// off, relative error (norm-wise) at most 1e-5; masks, permutations and counts exactly
// equal. Skipped where no GPU is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "sgdlab/core/buffer.hpp"
#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "tests/cuda_test_util.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST_F(CudaParity, Dense) {
  const DenseDims d{7, 3, 37, 11};
  const auto x = random_floats(size_t(d.B) * d.T * d.in, 1),
             w = random_floats(size_t(d.T) * d.in * d.out, 2),
             b = random_floats(size_t(d.T) * d.out, 3),
             dy = random_floats(size_t(d.B) * d.T * d.out, 4);
  compare([&](Backend& be) {
    auto X = up(be, x), W = up(be, w), Bv = up(be, b), DY = up(be, dy);
    Buffer<float> Y(be, dy.size()), DX(be, x.size()), DW(be, w.size()), DB(be, b.size());
    be.dense_forward(d, X.get(), W.get(), Bv.get(), Y.get());
    be.dense_backward(d, X.get(), W.get(), DY.get(), DX.get(), DW.get(), DB.get());
    return std::vector<std::vector<float>>{Y.download(), DX.download(), DW.download(),
                                           DB.download()};
  });
}

class CudaConvParity : public CudaParity,
                       public ::testing::WithParamInterface<std::tuple<ConvDims, bool>> {};

TEST_P(CudaConvParity, ForwardAndBackward) {
  const auto [d, local] = GetParam();
  const size_t per_w = size_t(local ? d.L() : 1) * d.Cout * d.patch(),
               per_b = size_t(local ? d.L() : 1) * d.Cout;
  const auto x = random_floats(size_t(d.B) * d.T * d.Cin * d.H * d.W, 5),
             w = random_floats(d.T * per_w, 6), b = random_floats(d.T * per_b, 7),
             dy = random_floats(size_t(d.B) * d.T * d.Cout * d.L(), 8);
  compare([&, d = d, local = local](Backend& be) {
    auto X = up(be, x), W = up(be, w), Bv = up(be, b), DY = up(be, dy);
    Buffer<float> Y(be, dy.size()), DX(be, x.size()), DW(be, w.size()), DB(be, b.size());
    if (local) {
      be.local2d_forward(d, X.get(), W.get(), Bv.get(), Y.get());
      be.local2d_backward(d, X.get(), W.get(), DY.get(), DX.get(), DW.get(), DB.get());
    } else {
      be.conv2d_forward(d, X.get(), W.get(), Bv.get(), Y.get());
      be.conv2d_backward(d, X.get(), W.get(), DY.get(), DX.get(), DW.get(), DB.get());
    }
    return std::vector<std::vector<float>>{Y.download(), DX.download(), DW.download(),
                                           DB.download()};
  });
}

INSTANTIATE_TEST_SUITE_P(
    StudyShapes, CudaConvParity,
    ::testing::Values(std::make_tuple(ConvDims{5, 3, 1, 16, 16, 32, 3, 1, 1}, false),
                      std::make_tuple(ConvDims{5, 3, 32, 8, 8, 64, 3, 1, 1}, false),
                      std::make_tuple(ConvDims{5, 3, 1, 16, 16, 8, 3, 1, 0}, true),
                      std::make_tuple(ConvDims{5, 3, 8, 14, 14, 16, 3, 2, 0}, true),
                      std::make_tuple(ConvDims{3, 2, 3, 9, 7, 4, 3, 2, 1}, true)),
    [](const auto& info) {
      const ConvDims d = std::get<0>(info.param);
      return std::string(std::get<1>(info.param) ? "local2d" : "conv2d") + "_Cin" +
             std::to_string(d.Cin) + "_H" + std::to_string(d.H) + "_Cout" + std::to_string(d.Cout) +
             "_s" + std::to_string(d.stride);
    });

// The math options change which kernels run, not what they compute: autotuned FP32
// algorithms hold the 1e-5 bound; TF32 rounds each product's inputs to 10 mantissa bits
// (relative error about 2^-11 per product), so 2e-3 bounds it with room and still fails
// a wrong algorithm by orders of magnitude. Dense and both CNN convolutions.
class CudaMathOptions
    : public ::testing::TestWithParam<std::tuple<const char*, BackendOptions, double>> {};

TEST_P(CudaMathOptions, DenseAndConvMatchTheCpu) {
  std::string why;
  if (!cuda_available(&why)) GTEST_SKIP() << "no usable GPU: " << why;
  const auto [name, options, tol] = GetParam();
  auto cpu = make_cpu_backend();
  auto gpu = make_cuda_backend(options);
  const DenseDims dd{32, 4, 1024, 128};
  gpu->plan_dense(dd);  // checks the epilogue path against the plain one
  const auto x = random_floats(size_t(dd.B) * dd.T * dd.in, 31),
             w = random_floats(size_t(dd.T) * dd.in * dd.out, 32),
             b = random_floats(size_t(dd.T) * dd.out, 33),
             dy = random_floats(size_t(dd.B) * dd.T * dd.out, 34);
  auto dense = [&](Backend& be) {
    auto X = up(be, x), W = up(be, w), Bv = up(be, b), DY = up(be, dy);
    Buffer<float> Y(be, dy.size()), DX(be, x.size()), DW(be, w.size()), DB(be, b.size());
    be.dense_forward(dd, X.get(), W.get(), Bv.get(), Y.get());
    be.dense_backward(dd, X.get(), W.get(), DY.get(), DX.get(), DW.get(), DB.get());
    return std::vector<std::vector<float>>{Y.download(), DX.download(), DW.download(),
                                           DB.download()};
  };
  expect_rel(dense(*gpu), dense(*cpu), tol);
  for (const ConvDims d :
       {ConvDims{32, 4, 1, 16, 16, 32, 3, 1, 1}, ConvDims{32, 4, 32, 8, 8, 64, 3, 1, 1},
        ConvDims{3, 2, 3, 9, 7, 4, 3, 2, 1}}) {
    const auto cx = random_floats(size_t(d.B) * d.T * d.Cin * d.H * d.W, 35),
               cw = random_floats(size_t(d.T) * d.Cout * d.patch(), 36),
               cb = random_floats(size_t(d.T) * d.Cout, 37),
               cdy = random_floats(size_t(d.B) * d.T * d.Cout * d.L(), 38);
    auto conv = [&](Backend& be) {
      be.plan_conv2d(d);
      auto X = up(be, cx), W = up(be, cw), Bv = up(be, cb), DY = up(be, cdy);
      Buffer<float> Y(be, cdy.size()), DX(be, cx.size()), DW(be, cw.size()), DB(be, cb.size());
      be.conv2d_forward(d, X.get(), W.get(), Bv.get(), Y.get());
      be.conv2d_backward(d, X.get(), W.get(), DY.get(), DX.get(), DW.get(), DB.get());
      return std::vector<std::vector<float>>{Y.download(), DX.download(), DW.download(),
                                             DB.download()};
    };
    expect_rel(conv(*gpu), conv(*cpu), tol);
  }
  // Every autotuned lane-GEMM tile agreed with cuDNN (a disagreement is a warning).
  const auto warnings = gpu->take_warnings();
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

INSTANTIATE_TEST_SUITE_P(
    Options, CudaMathOptions,
    ::testing::Values(
        std::make_tuple("autotune", BackendOptions{false, true}, 1e-5),
        std::make_tuple("tf32", BackendOptions{true, false}, 2e-3),
        std::make_tuple("tf32_autotune", BackendOptions{true, true}, 2e-3),
        std::make_tuple("lane_gemm", BackendOptions{false, false, ConvKernel::LaneGemm}, 1e-5),
        std::make_tuple("lane_gemm_autotune", BackendOptions{false, true, ConvKernel::LaneGemm},
                        1e-5),
        std::make_tuple("no_dense_epilogues", BackendOptions{false, false, ConvKernel::Auto, false},
                        1e-5),
        std::make_tuple("lane_gemm_tf32", BackendOptions{true, false, ConvKernel::LaneGemm}, 2e-3),
        std::make_tuple("lane_gemm_tf32_autotune", BackendOptions{true, true, ConvKernel::LaneGemm},
                        2e-3)),
    [](const auto& info) { return std::string(std::get<0>(info.param)); });

// Pooling on both backends routes a window's gradient to its first maximum (row by
// row), so tie-heavy inputs (values on a grid of thirds, as USPS's -1 background) give
// bit-identical outputs, plain and fused, overlapping windows too.
TEST_F(CudaParity, MaxPoolAndReluMaxPoolShareOneTieRule) {
  for (const PoolDims d : {PoolDims{6, 3, 8, 16, 16, 2, 2}, PoolDims{2, 3, 2, 9, 7, 3, 2}}) {
    auto x = random_floats(size_t(d.B) * d.T * d.C * d.H * d.W, 15);
    for (auto& v : x) v = std::round(v * 3) / 3;
    const auto dy = random_floats(size_t(d.B) * d.T * d.C * d.Ho() * d.Wo(), 16);
    auto run = [&](Backend& be) {
      auto X = up(be, x), DY = up(be, dy);
      Buffer<float> Y(be, dy.size()), DX(be, x.size()), FY(be, dy.size()), FDX(be, x.size());
      be.maxpool_forward(d, X.get(), Y.get());
      be.maxpool_backward(d, X.get(), Y.get(), DY.get(), DX.get());
      be.relu_maxpool_forward(d, X.get(), FY.get());
      be.relu_maxpool_backward(d, X.get(), DY.get(), FDX.get());
      return std::vector<std::vector<float>>{Y.download(), DX.download(), FY.download(),
                                             FDX.download()};
    };
    EXPECT_EQ(run(*gpu_), run(*cpu_));
  }
}

// Overlapping and non-overlapping windows, and a whole non-square plane.
TEST_F(CudaParity, AvgPool) {
  for (const AvgPoolDims& d :
       {AvgPoolDims{5, 3, 4, 9, 8, 3, 3, 2, 2}, AvgPoolDims{4, 2, 6, 8, 8, 2, 2, 2, 2},
        AvgPoolDims{3, 3, 5, 7, 5, 7, 5, 7, 5}}) {
    const auto x = random_floats(size_t(d.B) * d.T * d.C * d.H * d.W, 41),
               dy = random_floats(size_t(d.B) * d.T * d.C * d.Ho() * d.Wo(), 42);
    compare([&](Backend& be) {
      auto X = up(be, x), DY = up(be, dy);
      Buffer<float> Y(be, dy.size()), DX(be, x.size());
      be.avgpool_forward(d, X.get(), Y.get());
      be.avgpool_backward(d, DY.get(), DX.get());
      return std::vector<std::vector<float>>{Y.download(), DX.download()};
    });
  }
}

// Training (batch statistics, running statistics moved for Training lanes only) and
// evaluation, over planes and over features, and backward with and without dx.
TEST_F(CudaParity, BatchNorm) {
  for (const BatchNormDims& d :
       {BatchNormDims{33, 3, 5, 49, 1e-5f, 0.1f}, BatchNormDims{70, 4, 37, 1, 1e-3f, 0.3f},
        BatchNormDims{2, 2, 3, 300, 1e-5f, 1.0f}}) {
    const size_t n = size_t(d.B) * d.T * d.C * d.HW, per = size_t(d.T) * d.C;
    const auto x = random_floats(n, 51, -2, 3), dy = random_floats(n, 52),
               gamma = random_floats(per, 53, 0.5f, 1.5f), beta = random_floats(per, 54),
               mean = random_floats(per, 55), var = random_floats(per, 56, 0.5f, 2);
    std::vector<LaneState> state(d.T, LaneState::Training);
    state[1] = LaneState::Diverged;
    compare([&](Backend& be) {
      auto X = up(be, x), DY = up(be, dy), G = up(be, gamma), Bt = up(be, beta);
      auto M = up(be, mean), V = up(be, var);
      auto S = up(be, state);
      auto K = up(be, std::vector<float>(d.T, 2.0f));
      Buffer<float> Y(be, n), Ye(be, n), DX(be, n), DG(be, per), DB(be, per), DG2(be, per);
      const LaneArrays lanes{nullptr, nullptr, nullptr, nullptr, S.get()};
      const BatchNormTensors p{G.get(), Bt.get(), M.get(), V.get(), K.get()};
      be.batchnorm_forward(d, true, lanes, p, X.get(), Y.get());
      be.batchnorm_forward(d, false, lanes, p, X.get(), Ye.get());
      be.batchnorm_backward(d, X.get(), G.get(), DY.get(), DX.get(), DG.get(), DB.get());
      be.batchnorm_backward(d, X.get(), G.get(), DY.get(), nullptr, DG2.get(), DB.get());
      return std::vector<std::vector<float>>{Y.download(),  Ye.download(),  DX.download(),
                                             DG.download(), DG2.download(), DB.download(),
                                             M.download(),  V.download(),   K.download()};
    });
  }
}

TEST_F(CudaParity, Activations) {
  const auto x = random_floats(3001, 11, -4, 4), dy = random_floats(3001, 12);
  for (Activation a : {Activation::Relu, Activation::Sigmoid, Activation::Tanh})
    compare([&](Backend& be) {
      auto X = up(be, x), DY = up(be, dy);
      Buffer<float> Y(be, x.size()), DX(be, x.size());
      be.activation_forward(a, x.size(), X.get(), Y.get());
      be.activation_backward(a, x.size(), Y.get(), DY.get(), DX.get());
      return std::vector<std::vector<float>>{Y.download(), DX.download()};
    });
}

// The same Philox mask bit for bit: the kept positions match exactly.
TEST_F(CudaParity, DropoutMaskIsBitIdentical) {
  const DropoutDims d{33, 3, 130, 2};
  const auto x = random_floats(size_t(d.B) * d.T * d.F, 13, 0.5f, 1.5f);
  const std::vector<float> rate = {0.1f, 0.5f, 0.9f};
  const std::vector<uint64_t> seed = {7, 1ull << 40, 123456789};
  auto run = [&](Backend& be) {
    auto X = up(be, x), R = up(be, rate);
    Buffer<float> Y(be, x.size()), DX(be, x.size());
    auto S = up(be, seed);
    auto C = up(be, std::vector<int64_t>{41, 0});
    const LaneArrays lanes{nullptr, nullptr, R.get(), S.get(), nullptr};
    be.dropout_forward(d, lanes, C.get(), X.get(), Y.get());
    be.dropout_backward(d, lanes, C.get(), X.get(), DX.get());
    return std::vector<std::vector<float>>{Y.download(), DX.download()};
  };
  const auto g = run(*gpu_), c = run(*cpu_);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(g[0][i] == 0.0f, c[0][i] == 0.0f) << "mask differs at " << i;
  expect_rel(g, c);
}

TEST_F(CudaParity, ActivationDropoutFused) {
  const DropoutDims d{33, 3, 130, 5};
  const auto x = random_floats(size_t(d.B) * d.T * d.F, 17, -3, 3),
             dy = random_floats(x.size(), 18);
  for (Activation a : {Activation::Relu, Activation::Sigmoid, Activation::Tanh})
    compare([&](Backend& be) {
      auto X = up(be, x), DY = up(be, dy), R = up(be, std::vector<float>{0.1f, 0.5f, 0.7f});
      auto S = up(be, std::vector<uint64_t>{3, 1ull << 33, 99});
      auto C = up(be, std::vector<int64_t>{17, 0});
      const LaneArrays lanes{nullptr, nullptr, R.get(), S.get(), nullptr};
      Buffer<float> A(be, x.size()), Y(be, x.size()), DX(be, x.size());
      be.activation_dropout_forward({a, d}, lanes, C.get(), X.get(), A.get(), Y.get());
      be.activation_dropout_backward({a, d}, lanes, C.get(), A.get(), DY.get(), DX.get());
      return std::vector<std::vector<float>>{A.download(), Y.download(), DX.download()};
    });
}

// One launch for small batches (up to 256 rows), two for larger ones: both paths.
// Also with label smoothing per lane (0 on one lane), in both kernels' paths.
TEST_F(CudaParity, SoftmaxCrossEntropy) {
  const std::vector<float> eps = {0.1f, 0.0f, 0.25f, 0.05f, 0.5f};
  for (const XentDims dims : {XentDims{67, 3, 10}, XentDims{67, 5, 10}, XentDims{5, 2, 37},
                              XentDims{67, 5, 10, eps.data()}, XentDims{5, 2, 37, eps.data()}}) {
    XentDims d = dims;  // the smoothing travels in backend memory on each side
    const auto z = random_floats(size_t(d.B) * d.T * d.classes, 14, -5, 5);
    std::vector<int32_t> labels(size_t(d.B) * d.T);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = int32_t((i * 7) % d.classes);
    compare([&](Backend& be) {
      auto Z = up(be, z);
      auto L = up(be, labels);
      Buffer<float> S;
      if (dims.smoothing) {
        S = up(be, std::vector<float>(eps.begin(), eps.begin() + d.T));
        d.smoothing = S.get();
      }
      Buffer<float> G(be, z.size()), P(be, z.size()), loss(be, d.T), correct(be, d.T);
      Buffer<LaneState> state(be, d.T);
      loss.zero();
      correct.zero();
      state.zero();
      be.softmax_xent(d, Z.get(), L.get(), G.get(), loss.get(), correct.get(), state.get());
      be.softmax(d, Z.get(), P.get());
      std::vector<float> f;
      for (LaneState v : state.download()) f.push_back(float(int(v)));
      return std::vector<std::vector<float>>{G.download(), loss.download(), correct.download(),
                                             P.download(), f};
    });
  }
}

// Rows of NaN and rows with some NaN: both backends predict by argmax.hpp's rule (the
// correct counts agree exactly) and freeze the same lanes.
TEST_F(CudaParity, SoftmaxXentNaNRowsPredictTheSameClass) {
  const XentDims d{40, 3, 10};
  auto z = random_floats(size_t(d.B) * d.T * d.classes, 22, -5, 5);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int b = 0; b < d.B; ++b)  // lanes 0 and 2 see NaN; lane 1 stays finite
    for (int t : {0, 2})
      for (int c = 0; c < d.classes; ++c)
        if (b % 2 == 0 || c == b % d.classes) z[(size_t(b) * d.T + t) * d.classes + c] = nan;
  std::vector<int32_t> labels(size_t(d.B) * d.T);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = int32_t((i * 3) % 4);  // often class 0
  auto run = [&](Backend& be) {
    auto Z = up(be, z);
    auto L = up(be, labels);
    Buffer<float> loss(be, d.T), correct(be, d.T);
    Buffer<LaneState> state(be, d.T);
    loss.zero();
    correct.zero();
    state.zero();
    be.softmax_xent(d, Z.get(), L.get(), nullptr, loss.get(), correct.get(), state.get());
    return std::make_pair(correct.download(), state.download());
  };
  const auto g = run(*gpu_), c = run(*cpu_);
  EXPECT_EQ(g.first, c.first);
  EXPECT_EQ(g.second, c.second);
  EXPECT_EQ(c.second, (std::vector<LaneState>{LaneState::Diverged, LaneState::Training,
                                              LaneState::Diverged}));
}

TEST_F(CudaParity, SgdMomentumAndGradStats) {
  const int T = 3;
  const NetworkPlan plan(model_preset("lcnn"), T);
  const auto g = random_floats(plan.param_count(), 15), p = random_floats(plan.param_count(), 16),
             v = random_floats(plan.param_count(), 17);
  const std::vector<float> lr = {0.1f, 0.01f, 0.5f}, mu = {0.9f, 0.5f, 0.0f};
  const std::vector<LaneState> state = {LaneState::Training, LaneState::Pruned,
                                        LaneState::Training};
  compare([&](Backend& be) {
    auto P = up(be, p), G = up(be, g), V = up(be, v), LR = up(be, lr), MU = up(be, mu);
    auto F = up(be, state);
    auto S = up(be, plan.raw_slices());
    Buffer<float> acc(be, size_t(T) * (plan.param_layers() + 1) * 2);
    acc.zero();
    const LaneArrays lanes{LR.get(), MU.get(), nullptr, nullptr, F.get()};
    auto C = up(be, std::vector<int64_t>{41, 3});
    be.sgd_momentum({S.get(), int(S.size()), T, plan.param_count()}, lanes, P.get(), G.get(),
                    V.get(), C.get());
    // Twice: the second launch must find the kernel's ticket counter reset by the first.
    for (int i = 0; i < 2; ++i)
      be.grad_stats({S.get(), int(S.size()), plan.param_layers(), T}, G.get(), acc.get());
    std::vector<float> counters;
    for (int64_t c : C.download()) counters.push_back(float(c));  // 42 and 4
    return std::vector<std::vector<float>>{P.download(), V.download(), acc.download(), counters};
  });
}

// Every schedule shape at steps across a run, one lane each; the formula is shared, so
// the rates agree to the rounding of double cos and pow on each side.
TEST_F(CudaParity, ScheduledRates) {
  std::vector<RateSchedule> lanes(5);
  const RateShape shapes[] = {RateShape::Constant, RateShape::Step, RateShape::Cosine,
                              RateShape::OneCycle, RateShape::Cosine};
  for (int t = 0; t < 5; ++t) {
    lanes[t].base = 0.01f * float(t + 1);
    lanes[t].shape = shapes[t];
    lanes[t].length = 97;
    lanes[t].gamma = 0.7f;
    lanes[t].step_every = 3;
  }
  lanes[1].unit_steps = 7;  // a per-epoch schedule of 7 steps an epoch
  lanes[4].warmup = 20;
  compare([&](Backend& be) {
    auto R = up(be, lanes);
    Buffer<float> lr(be, lanes.size());
    std::vector<float> out;
    for (int64_t step : {0, 1, 19, 20, 28, 29, 50, 95, 96}) {
      auto C = up(be, std::vector<int64_t>{step, 0});
      be.scheduled_rates(5, R.get(), C.get(), lr.get());
      for (float v : lr.download()) out.push_back(v);
    }
    return std::vector<std::vector<float>>{out};
  });
}

// The moving average per lane: a decay, none (a copy), a frozen lane; the first update
// (a copy) and a later one, over a plan with batch-norm state.
TEST_F(CudaParity, EmaUpdate) {
  const int T = 3;
  const NetworkPlan plan(load_model(std::string(SGDLAB_TESTS_DIR) + "/../data/models/cnn-bn.json"),
                         T);
  const auto p = random_floats(plan.param_count(), 61), a = random_floats(plan.param_count(), 62);
  const std::vector<float> decay = {0.99f, 0.0f, 0.9f};
  const std::vector<LaneState> state = {LaneState::Training, LaneState::Training,
                                        LaneState::Diverged};
  for (int64_t step : {1, 7})
    compare([&](Backend& be) {
      auto P = up(be, p), A = up(be, a), D = up(be, decay);
      auto S = up(be, state);
      auto C = up(be, std::vector<int64_t>{step, 0});
      const auto raw = plan.raw_slices();
      auto R = up(be, raw);
      LaneArrays lanes{nullptr, nullptr, nullptr, nullptr, S.get()};
      lanes.ema = D.get();
      be.ema_update({R.get(), int(raw.size()), T, plan.param_count()}, lanes, C.get(), P.get(),
                    A.get());
      return std::vector<std::vector<float>>{A.download()};
    });
}

// Adam and AdamW per lane (betas, eps, decay on weights only), a frozen lane and a slice
// that is not trained, at update 7; the counters advance on both.
TEST_F(CudaParity, AdamAndAdamW) {
  const int T = 3;
  const NetworkPlan plan(model_preset("cnn"), T);
  const auto g = random_floats(plan.param_count(), 35), p = random_floats(plan.param_count(), 36),
             m = random_floats(plan.param_count(), 37);
  std::vector<float> v = random_floats(plan.param_count(), 38);
  for (float& x : v) x = x * x;  // a second moment is >= 0
  const std::vector<float> lr = {0.001f, 0.01f, 0.003f}, wd = {0.01f, 0.0f, 0.1f},
                           betas = {0.9f, 0.999f, 1e-8f, 0.8f, 0.99f, 1e-6f, 0.5f, 0.9f, 1e-3f};
  const std::vector<LaneState> state = {LaneState::Training, LaneState::Pruned,
                                        LaneState::Training};
  for (bool decoupled : {false, true})
    compare([&](Backend& be) {
      auto P = up(be, p), G = up(be, g), M = up(be, m), V = up(be, v), LR = up(be, lr);
      auto WD = up(be, wd), AB = up(be, betas);
      auto F = up(be, state);
      auto raw = plan.raw_slices();
      raw[2].flags |= kSliceNotTrained;
      auto S = up(be, raw);
      LaneArrays lanes{LR.get(), nullptr, nullptr, nullptr, F.get()};
      lanes.weight_decay = WD.get();
      lanes.adam = AB.get();
      auto C = up(be, std::vector<int64_t>{6, 2});
      be.adam_update({S.get(), int(S.size()), T, plan.param_count(), decoupled}, lanes, P.get(),
                     G.get(), M.get(), V.get(), C.get());
      std::vector<float> counters;
      for (int64_t c : C.download()) counters.push_back(float(c));  // 7 and 3
      return std::vector<std::vector<float>>{P.download(), M.download(), V.download(), counters};
    });
}

// Weight decay (weights only) and Nesterov, per lane, on both backends; one slice
// flagged as not trained is left alone by both.
TEST_F(CudaParity, SgdWithWeightDecayAndNesterov) {
  const int T = 3;
  const NetworkPlan plan(model_preset("cnn"), T);
  const auto g = random_floats(plan.param_count(), 25), p = random_floats(plan.param_count(), 26),
             v = random_floats(plan.param_count(), 27);
  const std::vector<float> lr = {0.1f, 0.02f, 0.05f}, mu = {0.9f, 0.5f, 0.8f},
                           wd = {5e-4f, 0.0f, 0.01f};
  const std::vector<int32_t> nag = {1, 0, 1};
  const std::vector<LaneState> state(T, LaneState::Training);
  compare([&](Backend& be) {
    auto P = up(be, p), G = up(be, g), V = up(be, v), LR = up(be, lr), MU = up(be, mu);
    auto WD = up(be, wd);
    auto NAG = up(be, nag);
    auto F = up(be, state);
    auto raw = plan.raw_slices();
    raw[1].flags |= kSliceNotTrained;
    auto S = up(be, raw);
    const LaneArrays lanes{LR.get(), MU.get(), nullptr, nullptr, F.get(), WD.get(), NAG.get()};
    be.sgd_momentum({S.get(), int(S.size()), T, plan.param_count()}, lanes, P.get(), G.get(),
                    V.get(), nullptr);
    return std::vector<std::vector<float>>{P.download(), V.download()};
  });
}

// Augmentation: the same transform per image from the same Philox draw on both
// backends (cosf and sinf may differ in the last bit between host and device).
TEST_F(CudaParity, AugmentMatchesTheCpu) {
  const AugmentDims d{9, 3, 2, 16, 16, true};
  const auto x = random_floats(size_t(d.B) * d.T * d.C * d.H * d.W, 28);
  // Lane 0 affine only, lane 1 nothing, lane 2 affine and elastic.
  const std::vector<float> strength = {2, 10, 0.1f, 0, 0, 0, 0, 0, 0, 0, 3, 30, 0.2f, 8, 2.5f};
  const std::vector<uint64_t> seeds = {11, 12, 1ull << 40};
  compare([&](Backend& be) {
    auto X = up(be, x), A = up(be, strength);
    auto S = up(be, seeds);
    auto C = up(be, std::vector<int64_t>{123, 4});
    Buffer<float> Y(be, x.size());
    LaneArrays lanes{nullptr, nullptr, nullptr, S.get(), nullptr};
    lanes.augment = A.get();
    be.augment(d, lanes, C.get(), -1.0f, X.get(), Y.get());
    return std::vector<std::vector<float>>{Y.download()};
  });
}

// Elastic fields on a non-square image (rows and columns must not be swapped), whose
// taps at sigma 8 (R = 32) reach past it, with sigma 0 (no smoothing) in another lane, and
// sizes that are no multiple of a block; a second, larger call on the same backend
// grows the scratch rows.
TEST_F(CudaParity, ElasticOnNonSquareImagesAndAGrowingBatchMatchesTheCpu) {
  const std::vector<float> strength = {1, 5, 0.05f, 5, 8, 0, 0, 0, 3, 0};
  const std::vector<uint64_t> seeds = {21, 22};
  compare([&](Backend& be) {
    std::vector<std::vector<float>> out;
    auto A = up(be, strength);
    auto S = up(be, seeds);
    auto C = up(be, std::vector<int64_t>{7, 4});
    for (int B : {3, 7}) {
      const AugmentDims d{B, 2, 1, 12, 10, true};
      const auto x = random_floats(size_t(d.B) * d.T * d.C * d.H * d.W, 29 + uint64_t(B));
      auto X = up(be, x);
      Buffer<float> Y(be, x.size());
      LaneArrays lanes{nullptr, nullptr, nullptr, S.get(), nullptr};
      lanes.augment = A.get();
      be.augment(d, lanes, C.get(), -1.0f, X.get(), Y.get());
      out.push_back(Y.download());
    }
    return out;
  });
}

// The grad-stats ticket counter is zeroed when the backend is made, not inside the
// first capture: a capture abandoned by an error leaves the next launch correct.
TEST_F(CudaParity, GradStatsAfterAnAbandonedCaptureStillMatchTheCpu) {
  const int T = 2;
  const NetworkPlan plan(model_preset("mlp"), T);
  const auto g = random_floats(plan.param_count(), 23);
  auto stats = [&](Backend& be, bool abandon_a_capture_first) {
    auto G = up(be, g);
    auto S = up(be, plan.raw_slices());
    Buffer<float> acc(be, size_t(T) * (plan.param_layers() + 1) * 2);
    acc.zero();
    if (abandon_a_capture_first) {
      EXPECT_THROW(be.record([&] {
        be.grad_stats({S.get(), int(S.size()), plan.param_layers(), T}, G.get(), acc.get());
        throw std::runtime_error("abandoned");
      }),
                   std::runtime_error);
      acc.zero();
    }
    be.grad_stats({S.get(), int(S.size()), plan.param_layers(), T}, G.get(), acc.get());
    return std::vector<std::vector<float>>{acc.download()};
  };
  expect_rel(stats(*gpu_, true), stats(*cpu_, false));
}

TEST_F(CudaParity, GatherAndShuffleAreExact) {
  const int T = 3, n = 1000, B = 17, features = 5;
  const auto data = random_floats(size_t(n) * features, 18);
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = i % 10;
  const std::vector<uint64_t> seeds = {1, 2, 99};
  auto run = [&](Backend& be) {
    auto D = up(be, data);
    auto L = up(be, labels);
    auto S = up(be, seeds);
    Buffer<uint32_t> perm(be, size_t(T) * n);
    be.shuffle(T, n, S.get(), 3, perm.get());
    auto C = up(be, std::vector<int64_t>{1, 5});
    Buffer<float> X(be, size_t(B) * T * features);
    Buffer<int32_t> Y(be, size_t(B) * T);
    be.gather({B, T, features, size_t(n), size_t(B), 2}, D.get(), L.get(), perm.get(), C.get(),
              X.get(), Y.get());
    return std::make_tuple(perm.download(), X.download(), Y.download(), C.download());
  };
  EXPECT_EQ(run(*gpu_), run(*cpu_));
}

}  // namespace
}  // namespace sgdlab::test
