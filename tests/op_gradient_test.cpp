// Finite-difference gradient checks in double for every differentiable op, with T > 1,
// and the lane-isolation check on each.
#include <gtest/gtest.h>

#include "cpu/activation.hpp"
#include "cpu/avgpool.hpp"
#include "cpu/batchnorm.hpp"
#include "cpu/conv2d.hpp"
#include "cpu/dense.hpp"
#include "cpu/dropout.hpp"
#include "cpu/local2d.hpp"
#include "cpu/maxpool.hpp"
#include "cpu/softmax_xent.hpp"
#include "tests/op_check.hpp"

namespace sgdlab::test {
namespace {

// The values are filled in by all_cases, from the case's own seed.
OpInput input(const std::string& name, LaneLayout layout) {
  return {name, layout, {}};
}

OpCase dense_case() {
  const DenseDims d{3, 2, 5, 4};
  OpCase op{"dense",
            {input("x", {d.B, d.T, d.in}), input("w", {1, d.T, d.in * d.out}),
             input("b", {1, d.T, d.out})},
            {d.B, d.T, d.out}};
  op.forward = [d](const Tensors& in) {
    std::vector<double> y(size_t(d.B) * d.T * d.out);
    cpu::dense_forward(d, in[0].data(), in[1].data(), in[2].data(), y.data());
    return y;
  };
  op.backward = [d](const Tensors& in, const std::vector<double>& dy) {
    Tensors g{std::vector<double>(in[0].size()), std::vector<double>(in[1].size()),
              std::vector<double>(in[2].size())};
    cpu::dense_backward_data(d, dy.data(), in[1].data(), g[0].data());
    cpu::dense_backward_weight(d, in[0].data(), dy.data(), g[1].data(), g[2].data());
    return g;
  };
  return op;
}

OpCase conv_case(const ConvDims d, bool local) {
  const int per_w = local ? d.L() * d.Cout * d.patch() : d.Cout * d.patch();
  const int per_b = local ? d.L() * d.Cout : d.Cout;
  OpCase op{local ? "local2d" : "conv2d",
            {input("x", {d.B, d.T, d.Cin * d.H * d.W}), input("w", {1, d.T, per_w}),
             input("b", {1, d.T, per_b})},
            {d.B, d.T, d.Cout * d.L()}};
  op.forward = [d, local](const Tensors& in) {
    std::vector<double> y(size_t(d.B) * d.T * d.Cout * d.L());
    std::vector<double> ws(cpu::conv2d_workspace(d));
    if (local)
      cpu::local2d_forward(d, in[0].data(), in[1].data(), in[2].data(), y.data());
    else
      cpu::conv2d_forward(d, in[0].data(), in[1].data(), in[2].data(), y.data(), ws.data());
    return y;
  };
  op.backward = [d, local](const Tensors& in, const std::vector<double>& dy) {
    Tensors g{std::vector<double>(in[0].size()), std::vector<double>(in[1].size()),
              std::vector<double>(in[2].size())};
    std::vector<double> ws(cpu::conv2d_workspace(d));
    if (local)
      cpu::local2d_backward(d, in[0].data(), in[1].data(), dy.data(), g[0].data(), g[1].data(),
                            g[2].data());
    else
      cpu::conv2d_backward(d, in[0].data(), in[1].data(), dy.data(), g[0].data(), g[1].data(),
                           g[2].data(), ws.data());
    return g;
  };
  return op;
}

OpCase maxpool_case() {
  const PoolDims d{2, 2, 2, 4, 6, 2, 2};
  OpCase op{
      "maxpool", {input("x", {d.B, d.T, d.C * d.H * d.W})}, {d.B, d.T, d.C * d.Ho() * d.Wo()}};
  op.forward = [d](const Tensors& in) {
    std::vector<double> y(size_t(d.B) * d.T * d.C * d.Ho() * d.Wo());
    cpu::maxpool_forward(d, in[0].data(), y.data());
    return y;
  };
  op.backward = [d](const Tensors& in, const std::vector<double>& dy) {
    Tensors g{std::vector<double>(in[0].size())};
    cpu::maxpool_backward(d, in[0].data(), dy.data(), g[0].data());
    return g;
  };
  return op;
}

// Overlapping windows (stride below the kernel), and the whole plane (global).
OpCase avgpool_case(const AvgPoolDims& d, const std::string& name) {
  OpCase op{name, {input("x", {d.B, d.T, d.C * d.H * d.W})}, {d.B, d.T, d.C * d.Ho() * d.Wo()}};
  op.forward = [d](const Tensors& in) {
    std::vector<double> y(size_t(d.B) * d.T * d.C * d.Ho() * d.Wo());
    cpu::avgpool_forward(d, in[0].data(), y.data());
    return y;
  };
  op.backward = [d](const Tensors& in, const std::vector<double>& dy) {
    Tensors g{std::vector<double>(in[0].size())};
    cpu::avgpool_backward(d, dy.data(), g[0].data());
    return g;
  };
  return op;
}

// Training mode (batch statistics), over a plane (BatchNorm2d) or one value per
// feature (BatchNorm1d); the running statistics it moves do not feed its output.
OpCase batchnorm_case(const BatchNormDims& d, const std::string& name) {
  const int F = d.C * d.HW;
  OpCase op{
      name,
      {input("x", {d.B, d.T, F}), input("gamma", {1, d.T, d.C}), input("beta", {1, d.T, d.C})},
      {d.B, d.T, F}};
  op.forward = [d, F](const Tensors& in) {
    std::vector<double> y(size_t(d.B) * d.T * F), mean(size_t(d.T) * d.C),
        var(size_t(d.T) * d.C, 1.0), tracked(d.T);
    cpu::batchnorm_forward<double>(
        d, true, nullptr, {in[1].data(), in[2].data(), mean.data(), var.data(), tracked.data()},
        in[0].data(), y.data());
    return y;
  };
  op.backward = [d](const Tensors& in, const std::vector<double>& dy) {
    Tensors g{std::vector<double>(in[0].size()), std::vector<double>(in[1].size()),
              std::vector<double>(in[2].size())};
    cpu::batchnorm_backward(d, in[0].data(), in[1].data(), dy.data(), g[0].data(), g[1].data(),
                            g[2].data());
    return g;
  };
  return op;
}

OpCase activation_case(Activation a, const std::string& name) {
  const LaneLayout l{3, 2, 7};
  OpCase op{name, {input("x", l)}, l};
  op.forward = [a, l](const Tensors& in) {
    std::vector<double> y(l.size());
    cpu::activation_forward(a, l.size(), in[0].data(), y.data());
    return y;
  };
  op.backward = [a, l](const Tensors& in, const std::vector<double>& dy) {
    std::vector<double> y(l.size());
    cpu::activation_forward(a, l.size(), in[0].data(), y.data());
    Tensors g{std::vector<double>(l.size())};
    cpu::activation_backward(a, l.size(), y.data(), dy.data(), g[0].data());
    return g;
  };
  return op;
}

OpCase dropout_case() {
  const DropoutDims d{4, 2, 9, 3};
  static const float rate[2] = {0.3f, 0.6f};
  static const uint64_t seed[2] = {5, 77};
  OpCase op{"dropout", {input("x", {d.B, d.T, d.F})}, {d.B, d.T, d.F}};
  op.forward = [d](const Tensors& in) {
    std::vector<double> y(in[0].size());
    cpu::dropout_forward(d, rate, seed, 12, in[0].data(), y.data());
    return y;
  };
  op.backward = [d](const Tensors& in, const std::vector<double>& dy) {
    Tensors g{std::vector<double>(in[0].size())};
    cpu::dropout_backward(d, rate, seed, 12, dy.data(), g[0].data());
    return g;
  };
  return op;
}

// The op's output here is the per-lane summed loss; its backward is B * dlogits.
// With `smoothed`, each lane its own label smoothing (one lane none).
OpCase softmax_xent_case(bool smoothed) {
  static const std::vector<float> eps = {0.1f, 0.0f, 0.3f};
  const XentDims d{5, 3, 4, smoothed ? eps.data() : nullptr};
  static std::vector<int32_t> labels;
  labels.clear();
  for (int i = 0; i < d.B * d.T; ++i) labels.push_back((i * 7 + 1) % d.classes);
  OpCase op{smoothed ? "softmax_xent_smoothed" : "softmax_xent",
            {input("logits", {d.B, d.T, d.classes})},
            {1, d.T, 1}};
  op.forward = [d](const Tensors& in) {
    std::vector<double> loss(d.T), correct(d.T);
    cpu::softmax_xent<double>(d, in[0].data(), labels.data(), nullptr, loss.data(), correct.data(),
                              nullptr);
    return loss;
  };
  op.backward = [d](const Tensors& in, const std::vector<double>& dy) {
    std::vector<double> loss(d.T), correct(d.T);
    Tensors g{std::vector<double>(in[0].size())};
    cpu::softmax_xent<double>(d, in[0].data(), labels.data(), g[0].data(), loss.data(),
                              correct.data(), nullptr);
    for (size_t i = 0; i < g[0].size(); ++i) g[0][i] *= d.B * dy[(i / d.classes) % d.T];
    return g;
  };
  return op;
}

// FNV-1a: a seed fixed by the text alone, on every platform.
uint64_t seed_of(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string case_name(const OpCase& op, size_t index) {
  return op.name + "_" + std::to_string(index);
}

// Each case's inputs come from a generator seeded by the case's test name, so that a
// case sees the same inputs whichever cases run before it (--gtest_filter, shards).
std::vector<OpCase> all_cases() {
  std::vector<OpCase> cases = {dense_case(),
                               conv_case({2, 2, 2, 5, 5, 3, 3, 1, 1}, false),
                               conv_case({2, 3, 2, 7, 6, 2, 3, 2, 0}, false),
                               conv_case({2, 2, 2, 5, 5, 3, 3, 1, 0}, true),
                               conv_case({2, 2, 2, 7, 7, 2, 3, 2, 1}, true),
                               maxpool_case(),
                               avgpool_case({2, 2, 2, 5, 6, 3, 2, 2, 1}, "avgpool"),
                               avgpool_case({2, 2, 3, 4, 3, 4, 3, 4, 3}, "global_avgpool"),
                               batchnorm_case({3, 2, 2, 5, 1e-5f, 0.1f}, "batchnorm2d"),
                               batchnorm_case({4, 3, 3, 1, 1e-3f, 0.3f}, "batchnorm1d"),
                               activation_case(Activation::Relu, "relu"),
                               activation_case(Activation::Sigmoid, "sigmoid"),
                               activation_case(Activation::Tanh, "tanh"),
                               dropout_case(),
                               softmax_xent_case(false),
                               softmax_xent_case(true)};
  for (size_t i = 0; i < cases.size(); ++i) {
    std::mt19937_64 rng(seed_of(case_name(cases[i], i)));
    for (OpInput& in : cases[i].inputs) in.value = random_vector(in.layout.size(), rng);
  }
  return cases;
}

class OpGradient : public ::testing::TestWithParam<int> {};

TEST_P(OpGradient, MatchesFiniteDifferences) {
  check_gradients(all_cases()[GetParam()]);
}
TEST_P(OpGradient, LanesDoNotLeak) {
  check_lane_isolation(all_cases()[GetParam()]);
}

// Building the cases twice gives the same inputs: nothing carries over between calls.
TEST(OpGradientInputs, TheSameOnEveryCall) {
  const std::vector<OpCase> first = all_cases(), second = all_cases();
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i)
    for (size_t k = 0; k < first[i].inputs.size(); ++k) {
      EXPECT_EQ(first[i].inputs[k].value, second[i].inputs[k].value) << case_name(first[i], i);
      EXPECT_EQ(first[i].inputs[k].value.size(), first[i].inputs[k].layout.size());
    }
  // Two cases of one op with the same input shapes still differ: conv2d_1 and local2d_3
  // share x's layout.
  EXPECT_NE(first[1].inputs[0].value, first[3].inputs[0].value);
}

INSTANTIATE_TEST_SUITE_P(EveryOp, OpGradient, ::testing::Range(0, int(all_cases().size())),
                         [](const auto& info) {
                           return case_name(all_cases()[info.param], size_t(info.param));
                         });

}  // namespace
}  // namespace sgdlab::test
