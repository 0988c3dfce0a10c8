// CPU kernels against naive loops and hand-computed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "cpu/activation.hpp"
#include "cpu/conv2d.hpp"
#include "cpu/dropout.hpp"
#include "cpu/gather.hpp"
#include "cpu/grad_stats.hpp"
#include "cpu/local2d.hpp"
#include "cpu/maxpool.hpp"
#include "cpu/relu_maxpool.hpp"
#include "cpu/sgd.hpp"
#include "cpu/shuffle.hpp"
#include "tests/op_check.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

float x_at(const ConvDims& d, const std::vector<float>& x, int b, int t, int c, int ih, int iw) {
  if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) return 0;
  return x[(((size_t(b) * d.T + t) * d.Cin + c) * d.H + ih) * d.W + iw];
}

// y[b,t,co,oh,ow] = bias + sum over c,i,j of w * x, written the obvious way.
std::vector<float> naive_conv(const ConvDims& d, const std::vector<float>& x,
                              const std::vector<float>& w, const std::vector<float>& bias,
                              bool local) {
  std::vector<float> y(size_t(d.B) * d.T * d.Cout * d.L());
  for (int b = 0; b < d.B; ++b)
    for (int t = 0; t < d.T; ++t)
      for (int co = 0; co < d.Cout; ++co)
        for (int oh = 0; oh < d.Ho(); ++oh)
          for (int ow = 0; ow < d.Wo(); ++ow) {
            const int l = oh * d.Wo() + ow;
            double acc =
                local ? bias[(size_t(t) * d.L() + l) * d.Cout + co] : bias[t * d.Cout + co];
            for (int c = 0; c < d.Cin; ++c)
              for (int i = 0; i < d.k; ++i)
                for (int j = 0; j < d.k; ++j) {
                  const size_t q = (size_t(c) * d.k + i) * d.k + j;
                  const float wv = local
                                       ? w[((size_t(t) * d.L() + l) * d.Cout + co) * d.patch() + q]
                                       : w[(size_t(t) * d.Cout + co) * d.patch() + q];
                  acc += double(wv) *
                         x_at(d, x, b, t, c, oh * d.stride - d.pad + i, ow * d.stride - d.pad + j);
                }
            y[((size_t(b) * d.T + t) * d.Cout + co) * d.L() + l] = float(acc);
          }
  return y;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tol * std::max(1.0f, std::abs(b[i]))) << "at " << i;
}

class ConvReference : public ::testing::TestWithParam<ConvDims> {};

TEST_P(ConvReference, Conv2dMatchesNaiveLoops) {
  const ConvDims d = GetParam();
  const auto x = random_floats(size_t(d.B) * d.T * d.Cin * d.H * d.W, 1);
  const auto w = random_floats(size_t(d.T) * d.Cout * d.patch(), 2);
  const auto b = random_floats(size_t(d.T) * d.Cout, 3);
  std::vector<float> y(size_t(d.B) * d.T * d.Cout * d.L()), ws(cpu::conv2d_workspace(d));
  cpu::conv2d_forward(d, x.data(), w.data(), b.data(), y.data(), ws.data());
  expect_close(y, naive_conv(d, x, w, b, false), 1e-5f);
}

TEST_P(ConvReference, Local2dMatchesNaiveLoops) {
  const ConvDims d = GetParam();
  const auto x = random_floats(size_t(d.B) * d.T * d.Cin * d.H * d.W, 4);
  const auto w = random_floats(size_t(d.T) * d.L() * d.Cout * d.patch(), 5);
  const auto b = random_floats(size_t(d.T) * d.L() * d.Cout, 6);
  std::vector<float> y(size_t(d.B) * d.T * d.Cout * d.L());
  cpu::local2d_forward(d, x.data(), w.data(), b.data(), y.data());
  expect_close(y, naive_conv(d, x, w, b, true), 1e-5f);
}

// With the same filters at every location, a locally connected layer is a convolution:
// forward and all three gradients agree.
TEST_P(ConvReference, Local2dWithSharedWeightsEqualsConv2d) {
  const ConvDims d = GetParam();
  const int L = d.L(), P = d.patch();
  const auto x = random_floats(size_t(d.B) * d.T * d.Cin * d.H * d.W, 7);
  const auto w = random_floats(size_t(d.T) * d.Cout * P, 8);
  const auto b = random_floats(size_t(d.T) * d.Cout, 9);
  const auto dy = random_floats(size_t(d.B) * d.T * d.Cout * L, 10);
  std::vector<float> lw(size_t(d.T) * L * d.Cout * P), lb(size_t(d.T) * L * d.Cout);
  for (int t = 0; t < d.T; ++t)
    for (int l = 0; l < L; ++l) {
      std::copy_n(w.begin() + size_t(t) * d.Cout * P, d.Cout * P,
                  lw.begin() + (size_t(t) * L + l) * d.Cout * P);
      std::copy_n(b.begin() + size_t(t) * d.Cout, d.Cout,
                  lb.begin() + (size_t(t) * L + l) * d.Cout);
    }
  std::vector<float> yc(dy.size()), yl(dy.size()), ws(cpu::conv2d_workspace(d));
  cpu::conv2d_forward(d, x.data(), w.data(), b.data(), yc.data(), ws.data());
  cpu::local2d_forward(d, x.data(), lw.data(), lb.data(), yl.data());
  expect_close(yl, yc, 1e-5f);

  std::vector<float> dxc(x.size()), dwc(w.size()), dbc(b.size());
  std::vector<float> dxl(x.size()), dwl(lw.size()), dbl(lb.size());
  cpu::conv2d_backward(d, x.data(), w.data(), dy.data(), dxc.data(), dwc.data(), dbc.data(),
                       ws.data());
  cpu::local2d_backward(d, x.data(), lw.data(), dy.data(), dxl.data(), dwl.data(), dbl.data());
  expect_close(dxl, dxc, 1e-5f);
  // The conv filter gradient is the sum of the per-location ones.
  std::vector<float> summed_w(w.size(), 0), summed_b(b.size(), 0);
  for (int t = 0; t < d.T; ++t)
    for (int l = 0; l < L; ++l) {
      for (int i = 0; i < d.Cout * P; ++i)
        summed_w[size_t(t) * d.Cout * P + i] += dwl[(size_t(t) * L + l) * d.Cout * P + i];
      for (int i = 0; i < d.Cout; ++i)
        summed_b[size_t(t) * d.Cout + i] += dbl[(size_t(t) * L + l) * d.Cout + i];
    }
  expect_close(summed_w, dwc, 1e-4f);
  expect_close(summed_b, dbc, 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvReference,
                         ::testing::Values(ConvDims{3, 2, 1, 16, 16, 8, 3, 1, 0},
                                           ConvDims{2, 3, 8, 14, 14, 16, 3, 2, 0},
                                           ConvDims{2, 2, 3, 8, 8, 4, 3, 1, 1},
                                           ConvDims{4, 1, 2, 9, 7, 3, 3, 2, 1}));

// Overlapping windows, ties and all-negative windows: the fused op equals ReLU then
// max-pool bit for bit, forward and backward.
TEST(ReluMaxPool, EqualsReluThenMaxPool) {
  for (const PoolDims d : {PoolDims{3, 2, 4, 8, 8, 2, 2}, PoolDims{2, 2, 3, 7, 9, 2, 2},
                           PoolDims{2, 3, 2, 9, 7, 3, 2}}) {
    const size_t nx = size_t(d.B) * d.T * d.C * d.H * d.W,
                 ny = size_t(d.B) * d.T * d.C * d.Ho() * d.Wo();
    auto x = random_floats(nx, 41);
    for (auto& v : x) v = std::round(v * 3) / 3;  // many ties, many zeros and negatives
    const auto dy = random_floats(ny, 42);
    std::vector<float> relu(nx), y_plain(ny), dpool(nx), dx_plain(nx), y_fused(ny), dx_fused(nx);
    cpu::activation_forward(Activation::Relu, nx, x.data(), relu.data());
    cpu::maxpool_forward(d, relu.data(), y_plain.data());
    cpu::maxpool_backward(d, relu.data(), dy.data(), dpool.data());
    cpu::activation_backward(Activation::Relu, nx, relu.data(), dpool.data(), dx_plain.data());
    cpu::relu_maxpool_forward(d, x.data(), y_fused.data());
    cpu::relu_maxpool_backward(d, x.data(), dy.data(), dx_fused.data());
    EXPECT_EQ(y_fused, y_plain);
    EXPECT_EQ(dx_fused, dx_plain);
    EXPECT_GT(std::count(dx_fused.begin(), dx_fused.end(), 0.0f), 0);
  }
}

TEST(SgdMomentum, MatchesHandComputedUpdate) {
  // Two slices, T = 2 lanes; lane 1 pruned after the first step.
  const ParamSlice slices[2] = {{0, 4, 0, 0}, {4, 2, 1, 0}};
  const float lr[2] = {0.1f, 0.5f}, mu[2] = {0.9f, 0.5f};
  LaneState state[2] = {LaneState::Training, LaneState::Training};
  std::vector<float> p = {1, 2, 3, 4, 5, 6}, v(6, 0.0f);
  const std::vector<float> g = {0.5f, -1, 2, 0.25f, 1, -2};
  cpu::sgd_momentum(slices, 2, 2, lr, mu, state, p.data(), g.data(), v.data());
  // v = g; p -= lr * g. Slice 0 lanes: {0,1} lane 0, {2,3} lane 1; slice 1: {4} lane 0, {5} lane 1.
  EXPECT_FLOAT_EQ(p[0], 1 - 0.1f * 0.5f);
  EXPECT_FLOAT_EQ(p[2], 3 - 0.5f * 2);
  EXPECT_FLOAT_EQ(p[5], 6 - 0.5f * -2);
  cpu::sgd_momentum(slices, 2, 2, lr, mu, state, p.data(), g.data(), v.data());
  // Second step: v = mu * g + g.
  EXPECT_FLOAT_EQ(p[0], 1 - 0.1f * 0.5f - 0.1f * (0.9f * 0.5f + 0.5f));
  EXPECT_FLOAT_EQ(p[3], 4 - 0.5f * 0.25f - 0.5f * (0.5f * 0.25f + 0.25f));
  state[1] = LaneState::Pruned;
  const std::vector<float> before = p;
  cpu::sgd_momentum(slices, 2, 2, lr, mu, state, p.data(), g.data(), v.data());
  EXPECT_EQ(p[2], before[2]);
  EXPECT_EQ(p[3], before[3]);
  EXPECT_EQ(p[5], before[5]);
  EXPECT_NE(p[0], before[0]);
}

TEST(GradStats, MatchesHandComputedValues) {
  const ParamSlice slices[2] = {{0, 4, 0, 0}, {4, 2, 1, 0}};
  const std::vector<float> g = {3, -4, 1,
                                1, 2,  -2};  // lane 0: {3,-4} and {2}; lane 1: {1,1} and {-2}
  std::vector<float> acc(2 * 3 * 2, 0.0f);
  cpu::grad_stats(slices, 2, 2, 2, g.data(), acc.data());
  cpu::grad_stats(slices, 2, 2, 2, g.data(), acc.data());  // accumulates
  EXPECT_FLOAT_EQ(acc[0], 2 * 3.5f);                       // lane 0 layer 0 mean |g|
  EXPECT_FLOAT_EQ(acc[1], 2 * 5.0f);                       // lane 0 layer 0 L2
  EXPECT_FLOAT_EQ(acc[4], 2 * 3.0f);                       // lane 0 overall mean |g| = 9/3
  EXPECT_FLOAT_EQ(acc[5], 2 * std::sqrt(29.0f));           // lane 0 overall L2
  EXPECT_FLOAT_EQ(acc[6 + 2], 2 * 2.0f);                   // lane 1 layer 1 mean |g|
  EXPECT_FLOAT_EQ(acc[6 + 5], 2 * std::sqrt(6.0f));        // lane 1 overall L2
}

TEST(Dropout, ReproducibleAndKeepRateWithinBinomialBound) {
  const DropoutDims d{64, 3, 256, 1};
  const float rate[3] = {0.1f, 0.5f, 0.9f};
  const uint64_t seed[3] = {1, 2, 3};
  const std::vector<float> x(size_t(d.B) * d.T * d.F, 1.0f);
  std::vector<float> a(x.size()), b(x.size()), c(x.size());
  cpu::dropout_forward(d, rate, seed, 5, x.data(), a.data());
  cpu::dropout_forward(d, rate, seed, 5, x.data(), b.data());
  cpu::dropout_forward(d, rate, seed, 6, x.data(), c.data());
  EXPECT_EQ(a, b);  // same seed and step: the same mask
  EXPECT_NE(a, c);  // the next step draws another
  const double n = double(d.B) * d.F;
  for (int t = 0; t < d.T; ++t) {
    double kept = 0;
    for (int bb = 0; bb < d.B; ++bb)
      for (int f = 0; f < d.F; ++f) {
        const float v = a[(size_t(bb) * d.T + t) * d.F + f];
        if (v != 0) {
          kept += 1;
          EXPECT_FLOAT_EQ(v, 1.0f / (1.0f - rate[t]));
        }
      }
    const double p = 1.0 - rate[t];
    // Five standard deviations of Binomial(n, p).
    EXPECT_NEAR(kept, n * p, 5 * std::sqrt(n * p * (1 - p))) << "lane " << t;
  }
}

TEST(Shuffle, GivesDistinctPermutationsPerLaneAndEpoch) {
  const int n = 1000;
  const uint64_t seeds[3] = {1, 2, 1};
  std::vector<uint32_t> p0(3 * n), p1(3 * n);
  cpu::shuffle(3, n, seeds, 0, p0.data());
  cpu::shuffle(3, n, seeds, 1, p1.data());
  for (int t = 0; t < 3; ++t) {
    std::set<uint32_t> seen(p0.begin() + t * n, p0.begin() + (t + 1) * n);
    EXPECT_EQ(seen.size(), size_t(n));
    EXPECT_EQ(*seen.rbegin(), uint32_t(n - 1));
  }
  EXPECT_FALSE(std::equal(p0.begin(), p0.begin() + n, p0.begin() + n));     // lanes differ
  EXPECT_TRUE(std::equal(p0.begin(), p0.begin() + n, p0.begin() + 2 * n));  // same seed, same order
  EXPECT_FALSE(std::equal(p0.begin(), p0.begin() + n, p1.begin()));         // epochs differ
}

TEST(Gather, EachLaneReadsThroughItsOwnPermutation) {
  const int features = 2, n = 4, B = 2, T = 2;
  const std::vector<float> data = {0, 0, 1, 10, 2, 20, 3, 30};
  const std::vector<int32_t> labels = {5, 6, 7, 8};
  const std::vector<uint32_t> perm = {3, 2, 1, 0, 0, 1, 2, 3};
  std::vector<float> x(B * T * features);
  std::vector<int32_t> y(B * T);
  cpu::gather(B, T, features, data.data(), labels.data(), perm.data(), n, 2, x.data(), y.data());
  // Step 1 (first = 2): lane 0 reads samples 1, 0; lane 1 reads 2, 3.
  EXPECT_EQ(y, (std::vector<int32_t>{6, 7, 5, 8}));
  EXPECT_EQ(x, (std::vector<float>{1, 10, 2, 20, 0, 0, 3, 30}));
}

}  // namespace
}  // namespace sgdlab::test
