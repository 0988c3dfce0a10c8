// One prediction rule everywhere (sgdlab/argmax.hpp): the first largest score, NaN
// ranking above numbers. The GPU reduces (value, index) pairs in a tree; the rule must
// give the sequential answer in any reduction order, which is checked here on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "cpu/softmax_xent.hpp"
#include "sgdlab/core/argmax.hpp"
#include "sgdlab/study/ensemble.hpp"

namespace sgdlab::test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(Argmax, FirstLargestWithNaNRankingAboveNumbers) {
  const float ties[] = {1, 3, 3, 2};
  EXPECT_EQ(argmax_first(ties, 4), 1);
  const float all_nan[] = {kNaN, kNaN, kNaN};
  EXPECT_EQ(argmax_first(all_nan, 3), 0);
  const float some_nan[] = {5, kNaN, 7, kNaN};
  EXPECT_EQ(argmax_first(some_nan, 4), 1);
  const float nan_first[] = {kNaN, 9, 10};
  EXPECT_EQ(argmax_first(nan_first, 3), 0);
  const float minus_inf[] = {-INFINITY, -INFINITY};
  EXPECT_EQ(argmax_first(minus_inf, 2), 0);
}

// The warp's butterfly reduction (each of 32 threads keeps its strided columns' winner,
// then pairs combine at distances 16, 8, 4, 2, 1), replayed on the host.
int butterfly_argmax(const std::vector<float>& z) {
  const int threads = 32, n = int(z.size());
  std::vector<float> best(threads, -INFINITY);
  std::vector<int> arg(threads, std::numeric_limits<int>::max());
  for (int t = 0; t < threads; ++t)
    for (int c = t; c < n; c += threads)
      if (wins_over(z[c], c, best[t], arg[t])) best[t] = z[c], arg[t] = c;
  for (int o = threads / 2; o > 0; o /= 2) {
    const auto b0 = best;
    const auto a0 = arg;
    for (int t = 0; t < threads; ++t)
      if (wins_over(b0[t ^ o], a0[t ^ o], b0[t], a0[t])) best[t] = b0[t ^ o], arg[t] = a0[t ^ o];
  }
  for (int t = 1; t < threads; ++t) EXPECT_EQ(arg[t], arg[0]) << "threads disagree";
  return arg[0];
}

TEST(Argmax, TreeReductionGivesTheSequentialAnswer) {
  std::mt19937 r(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const int n = 1 + int(r() % 70);
    std::vector<float> z(n);
    // Few distinct values, some NaN and infinities: ties everywhere.
    const float pool[] = {-1, 0, 0.5f, 2, INFINITY, -INFINITY, kNaN};
    for (auto& v : z) v = pool[r() % (trial % 3 == 0 ? 7 : 4)];
    ASSERT_EQ(butterfly_argmax(z), argmax_first(z.data(), n)) << "trial " << trial;
  }
}

// All-NaN logits: the CPU counts class 0 as the prediction and marks the lane diverged.
TEST(Argmax, SoftmaxXentPredictsClassZeroForNaNRows) {
  const XentDims d{2, 1, 4};
  const std::vector<float> logits = {kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  const std::vector<int32_t> labels = {0, 3};
  float loss = 0, correct = 0;
  LaneState state = LaneState::Training;
  cpu::softmax_xent(d, logits.data(), labels.data(), static_cast<float*>(nullptr), &loss, &correct,
                    &state);
  EXPECT_EQ(correct, 1.0f);
  EXPECT_EQ(state, LaneState::Diverged);
}

TEST(Argmax, EnsembleVoteUsesTheSameRule) {
  const std::vector<std::vector<float>> probs = {{0.2f, 0.4f, 0.4f, kNaN, kNaN, kNaN}};
  EXPECT_EQ(vote(probs, {1.0}, 3), (std::vector<int>{1, 0}));
}

}  // namespace
}  // namespace sgdlab::test
