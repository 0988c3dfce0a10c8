// The report's statistics against values worked out by hand, and their edge cases.
#include <gtest/gtest.h>

#include <cmath>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/stats.hpp"

namespace sgdlab {
namespace {

TEST(Stats, SampleStdByHand) {
  // Mean 5; squared deviations 9 1 1 1 0 0 4 16 sum to 32; over n - 1 = 7.
  EXPECT_NEAR(sample_std({2, 4, 4, 4, 5, 5, 7, 9}), std::sqrt(32.0 / 7.0), 1e-15);
  // Mean 2; deviations -1 and 1: (1 + 1) / 1 = 2.
  EXPECT_NEAR(sample_std({1, 3}), std::sqrt(2.0), 1e-15);
}

TEST(Stats, SampleStdOfFewerThanTwoValuesIsZero) {
  EXPECT_EQ(sample_std({}), 0.0);
  EXPECT_EQ(sample_std({42.0}), 0.0);
}

// 0.1 + 0.1 + 0.1 = 0.30000000000000004, whose third is not 0.1: measured through the
// mean, three 0.1s would have a spread of about 1e-17.
TEST(Stats, SampleStdOfEqualValuesIsExactlyZero) {
  EXPECT_EQ(sample_std({0.1, 0.1, 0.1}), 0.0);
  EXPECT_EQ(sample_std(std::vector<double>(7, 0.1)), 0.0);
  EXPECT_EQ(sample_std({64, 64}), 0.0);
}

TEST(Stats, MeanOfNothingIsNan) {
  EXPECT_TRUE(std::isnan(mean({})));
  EXPECT_EQ(mean({1, 2, 6}), 3.0);
}

TEST(Stats, PearsonByHand) {
  // x mean 3, deviations -2 -1 0 1 2; y mean 4, deviations -2 0 1 0 1.
  // sxy = 4 + 0 + 0 + 0 + 2 = 6, sxx = 10, syy = 4 + 0 + 1 + 0 + 1 = 6: r = 6 / sqrt(60).
  EXPECT_NEAR(pearson({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}), 6.0 / std::sqrt(60.0), 1e-15);
  // y = 1 - 2x exactly: r = -1.
  EXPECT_NEAR(pearson({0, 1, 2, 3}, {1, -1, -3, -5}), -1.0, 1e-15);
  // Deviations -1 0 1 against 1 -2 1: sxy = -1 + 0 + 1 = 0.
  EXPECT_NEAR(pearson({1, 2, 3}, {1, -2, 1}), 0.0, 1e-15);
}

TEST(Stats, PearsonWithoutSpreadIsNan) {
  EXPECT_TRUE(std::isnan(pearson({}, {})));
  EXPECT_TRUE(std::isnan(pearson({1}, {2})));  // n < 2
  EXPECT_TRUE(std::isnan(pearson({2, 2, 2}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(pearson({1, 2, 3}, {5, 5, 5})));
  // Equal values whose mean is not exactly that value (see above): no spread either.
  EXPECT_TRUE(std::isnan(pearson({0.1, 0.1, 0.1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(pearson({1, 2, 3, 4, 5, 6, 8}, std::vector<double>(7, 0.1))));
}

TEST(Stats, PearsonNeedsPairs) {
  EXPECT_THROW(pearson({1, 2, 3}, {1, 2}), Error);
}

}  // namespace
}  // namespace sgdlab
