// Narrowing math on a hand-made trial set: log space, clipping, the mode, KDE.
#include <gtest/gtest.h>

#include <cmath>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/narrow.hpp"

namespace sgdlab {
namespace {

Trial trial(int n, double lr, double batch, double mom, double drop, double value,
            TrialState state = TrialState::Complete) {
  Trial t;
  t.number = n;
  t.state = state;
  t.params = {{"lr", lr}, {"batch", batch}, {"momentum", mom}, {"dropout", drop}};
  t.value = value;
  return t;
}

TEST(Narrow, TopTwentyPercentMeanStdInLogSpaceClipped) {
  std::vector<Trial> trials;
  // Ten completed trials: the best two are #8 (0.99) and #9 (0.98).
  for (int i = 0; i < 8; ++i) trials.push_back(trial(i, 1e-6, 16, 0.6, 0.2, 0.5 + 0.01 * i));
  trials.push_back(trial(8, 1e-2, 64, 0.95, 0.3, 0.99));
  trials.push_back(trial(9, 1e-1, 64, 0.85, 0.5, 0.98));
  // Not completed: ignored even with a high value.
  trials.push_back(trial(10, 1e-5, 128, 0.5, 0.1, 1.0, TrialState::Pruned));
  const Narrowing n = narrow(SearchSpace::study_default(), trials);
  EXPECT_EQ(n.n_trials, 10);
  EXPECT_EQ(n.n_top, 2);
  ASSERT_EQ(n.intervals.size(), 3u);
  const ParamInterval& lr = n.intervals[0];
  // ln(1e-2) and ln(1e-1): mean ln(10^-1.5), sample std ln(10)/sqrt(2).
  EXPECT_NEAR(lr.mean, std::log(std::pow(10.0, -1.5)), 1e-12);
  EXPECT_NEAR(lr.std, std::log(10.0) / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(lr.low, std::exp(lr.mean - lr.std), 1e-12);
  EXPECT_DOUBLE_EQ(lr.high, 0.1);  // exp(mean + std) > 0.1: clipped
  EXPECT_TRUE(lr.clipped_high);
  EXPECT_FALSE(lr.clipped_low);
  const ParamInterval& mom = n.intervals[1];
  EXPECT_NEAR(mom.mean, 0.9, 1e-12);
  EXPECT_NEAR(mom.std, std::sqrt(0.005), 1e-12);
  EXPECT_NEAR(mom.low, 0.9 - std::sqrt(0.005), 1e-12);
  EXPECT_NEAR(mom.high, 0.9 + std::sqrt(0.005), 1e-12);  // 0.9707: inside (0.5, 0.99)
  EXPECT_FALSE(mom.clipped_high);
  EXPECT_EQ(n.categorical_mode, 64);
  EXPECT_EQ(n.space.get("batch").choices, std::vector<double>{64});
  EXPECT_DOUBLE_EQ(n.space.get("dropout").low, 0.4 - std::sqrt(0.02));
}

TEST(Narrow, ModeTieGoesToTheBetterBatch) {
  std::vector<Trial> trials;
  for (int i = 0; i < 6; ++i) trials.push_back(trial(i, 1e-3, 128, 0.9, 0.3, 0.1));
  trials.push_back(trial(6, 1e-3, 16, 0.9, 0.3, 0.90));
  trials.push_back(trial(7, 1e-3, 32, 0.9, 0.3, 0.95));
  trials.push_back(trial(8, 1e-3, 16, 0.9, 0.3, 0.85));
  trials.push_back(trial(9, 1e-3, 32, 0.9, 0.3, 0.96));
  const Narrowing n = narrow(SearchSpace::study_default(), trials, 0.4);  // top 4: two 16s, two 32s
  EXPECT_EQ(n.n_top, 4);
  EXPECT_EQ(n.categorical_mode, 32);
}

TEST(Narrow, TopCountRoundsUp) {
  EXPECT_EQ(top_count(30, 0.2), 6);
  EXPECT_EQ(top_count(8, 0.2), 2);
  EXPECT_EQ(top_count(3, 0.2), 1);
}

TEST(Kde, ScottBandwidthAndUnitMass) {
  const std::vector<double> samples = {0.0, 1.0, 3.0, 4.0};
  std::vector<double> grid;
  for (int i = 0; i <= 4000; ++i) grid.push_back(-20 + 44.0 * i / 4000);
  double bw = 0;
  const auto d = gaussian_kde(samples, grid, 1.0, &bw);
  const double std = std::sqrt((4.0 + 1.0 + 1.0 + 4.0) / 3.0);  // mean 2, sample std
  EXPECT_NEAR(bw, std * std::pow(4.0, -0.2), 1e-12);
  double mass = 0;
  for (size_t i = 1; i < grid.size(); ++i)
    mass += 0.5 * (d[i] + d[i - 1]) * (grid[i] - grid[i - 1]);
  EXPECT_NEAR(mass, 1.0, 1e-6);
}

TEST(Narrow, NoCompletedTrialsIsAnInputError) {
  EXPECT_THROW(narrow(SearchSpace::study_default(), {}), InputError);
}

}  // namespace
}  // namespace sgdlab
