// Narrowing math on a hand-made trial set: log space, clipping, the mode, KDE.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

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
  EXPECT_EQ(n.modes.at("batch"), 64);
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
  EXPECT_EQ(n.modes.at("batch"), 32);
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

const KdeCurve& curve_of(const Narrowing& n, const std::string& name) {
  for (const KdeCurve& c : n.kde)
    if (c.name == name) return c;
  throw std::runtime_error("no KDE curve for " + name);
}

// One top trial has no spread: the interval keeps 1% of the original range around it,
// that is +- 0.005 * range, and its KDE falls back to 5% of the plotted range.
TEST(Narrow, ASingleTopTrialKeepsOnePercentOfTheRange) {
  std::vector<Trial> trials = {trial(0, 1e-6, 128, 0.6, 0.2, 0.1),
                               trial(1, 1e-3, 32, 0.8, 0.4, 0.9),
                               trial(2, 1e-5, 16, 0.55, 0.6, 0.2)};
  const Narrowing n = narrow(SearchSpace::study_default(), trials);  // 20% of 3: one
  ASSERT_EQ(n.n_top, 1);
  ASSERT_EQ(n.intervals.size(), 3u);
  const ParamInterval& lr = n.intervals[0];
  EXPECT_EQ(lr.std, 0.0);
  EXPECT_NEAR(lr.mean, std::log(1e-3), 1e-12);
  // ln range ln(0.1 / 1e-7) = 6 ln 10, so +- 0.03 ln 10: a factor 10^0.03 either way.
  EXPECT_NEAR(lr.low / 1e-3, std::pow(10.0, -0.03), 1e-12);
  EXPECT_NEAR(lr.high / 1e-3, std::pow(10.0, 0.03), 1e-12);
  const ParamInterval& mom = n.intervals[1];  // range 0.49: +- 0.00245
  EXPECT_NEAR(mom.low, 0.79755, 1e-12);
  EXPECT_NEAR(mom.high, 0.80245, 1e-12);
  const ParamInterval& drop = n.intervals[2];  // range 0.6: +- 0.003
  EXPECT_NEAR(drop.low, 0.397, 1e-12);
  EXPECT_NEAR(drop.high, 0.403, 1e-12);
  for (const ParamInterval& iv : n.intervals) {
    EXPECT_FALSE(iv.clipped_low) << iv.name;
    EXPECT_FALSE(iv.clipped_high) << iv.name;
  }
  EXPECT_EQ(n.modes.at("batch"), 32);
  EXPECT_EQ(n.space.get("momentum").low, mom.low);
  EXPECT_EQ(n.space.get("momentum").high, mom.high);
  // Plotted ranges: log10 lr 6, log2 batch 3, momentum 0.49.
  EXPECT_NEAR(curve_of(n, "lr").bandwidth_top, 0.3, 1e-12);
  EXPECT_NEAR(curve_of(n, "batch").bandwidth_top, 0.15, 1e-12);
  EXPECT_NEAR(curve_of(n, "momentum").bandwidth_top, 0.0245, 1e-12);
}

// Three identical top trials: no spread at all (0.1 + 0.1 + 0.1 over 3 is not 0.1, so a
// spread taken from the mean would be 1e-17, and the KDE a spike of that width). The
// dropout at its lower bound 0.1 is clipped there.
TEST(Narrow, IdenticalTopTrialsHaveNoSpread) {
  std::vector<Trial> trials;
  for (int i = 0; i < 7; ++i) trials.push_back(trial(i, 1e-5, 16, 0.6, 0.5, 0.1 * i));
  for (int i = 7; i < 10; ++i) trials.push_back(trial(i, 1e-3, 64, 0.7, 0.1, 0.95));
  const Narrowing n = narrow(SearchSpace::study_default(), trials, 0.3);
  ASSERT_EQ(n.n_top, 3);
  for (const ParamInterval& iv : n.intervals) EXPECT_EQ(iv.std, 0.0) << iv.name;
  const ParamInterval& mom = n.intervals[1];
  EXPECT_NEAR(mom.low, 0.7 - 0.00245, 1e-12);
  EXPECT_NEAR(mom.high, 0.7 + 0.00245, 1e-12);
  const ParamInterval& drop = n.intervals[2];
  EXPECT_TRUE(drop.clipped_low);
  EXPECT_FALSE(drop.clipped_high);
  EXPECT_EQ(drop.low, 0.1);
  EXPECT_NEAR(drop.high, 0.103, 1e-12);
  EXPECT_NEAR(curve_of(n, "momentum").bandwidth_top, 0.0245, 1e-12);
  EXPECT_NEAR(curve_of(n, "dropout").bandwidth_top, 0.03, 1e-12);
  EXPECT_NEAR(curve_of(n, "lr").bandwidth_top, 0.3, 1e-12);
  // The fallback bump has the unit mass of any density: its peak is 1 / (bw sqrt(2 pi)).
  const KdeCurve& d = curve_of(n, "dropout");
  EXPECT_NEAR(*std::max_element(d.top.begin(), d.top.end()), 1 / (0.03 * std::sqrt(2 * M_PI)),
              0.05 / (0.03 * std::sqrt(2 * M_PI)));
}

// mean +- std past the original bounds is cut back to exactly those bounds: lr below
// 1e-7 (log space), momentum above 0.99, and dropout on both sides at once.
TEST(Narrow, ClipsToTheOriginalBoundsAtEitherEnd) {
  std::vector<Trial> trials;
  for (int i = 0; i < 8; ++i) trials.push_back(trial(i, 1e-3, 32, 0.7, 0.4, 0.1));
  trials.push_back(trial(8, 1e-7, 32, 0.98, 0.1, 0.9));
  trials.push_back(trial(9, 1e-6, 32, 0.99, 0.7, 0.8));
  const SearchSpace original = SearchSpace::study_default();
  const Narrowing n = narrow(original, trials);
  ASSERT_EQ(n.n_top, 2);
  const ParamInterval& lr = n.intervals[0];
  // ln 1e-7 and ln 1e-6: mean ln 10^-6.5, std ln(10) / sqrt(2) = 0.707 decades.
  EXPECT_TRUE(lr.clipped_low);
  EXPECT_FALSE(lr.clipped_high);
  EXPECT_EQ(lr.low, 1e-7);  // exactly, not exp(ln 1e-7) = 9.9999999999999943e-08
  EXPECT_NEAR(std::log10(lr.high), -6.5 + 1 / std::sqrt(2.0), 1e-12);
  const ParamInterval& mom = n.intervals[1];
  // 0.98 and 0.99: mean 0.985, std 0.01 / sqrt(2) = 0.00707, so 0.99207 is cut to 0.99.
  EXPECT_FALSE(mom.clipped_low);
  EXPECT_TRUE(mom.clipped_high);
  EXPECT_NEAR(mom.low, 0.985 - 0.01 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(mom.high, 0.99);
  const ParamInterval& drop = n.intervals[2];
  // 0.1 and 0.7: mean 0.4, std 0.424, both ends outside (0.1, 0.7).
  EXPECT_TRUE(drop.clipped_low);
  EXPECT_TRUE(drop.clipped_high);
  EXPECT_EQ(drop.low, 0.1);
  EXPECT_EQ(drop.high, 0.7);
  // The narrowed space lies inside the original one, its corners included.
  const SearchSpace& s = n.space;
  for (bool low : {false, true})
    EXPECT_TRUE(original.contains({{"lr", low ? s.get("lr").low : s.get("lr").high},
                                   {"batch", 32},
                                   {"momentum", low ? mom.low : mom.high},
                                   {"dropout", low ? drop.low : drop.high}}));
}

// A log parameter clipped at the top is the original bound exactly too.
TEST(Narrow, LogParameterClippedAtTheTopIsTheBoundItself) {
  std::vector<Trial> trials;
  for (int i = 0; i < 8; ++i) trials.push_back(trial(i, 1e-6, 32, 0.7, 0.4, 0.1));
  trials.push_back(trial(8, 1e-1, 32, 0.7, 0.4, 0.9));
  trials.push_back(trial(9, 1e-2, 32, 0.7, 0.4, 0.8));
  const ParamInterval lr = narrow(SearchSpace::study_default(), trials).intervals[0];
  EXPECT_TRUE(lr.clipped_high);
  EXPECT_EQ(lr.high, 0.1);  // not exp(ln 0.1) = 0.10000000000000002
}

TEST(Narrow, NoCompletedTrialsIsAnInputError) {
  EXPECT_THROW(narrow(SearchSpace::study_default(), {}), InputError);
}

// Each categorical parameter has its mode, and a choice of 0 (no momentum) has a KDE
// curve in natural units rather than log2(0) = -inf (issue #14, 8).
TEST(Narrow, EveryCategoricalParameterHasItsModeAndFiniteKde) {
  const SearchSpace space = SearchSpace::from_json(
      nlohmann::json::parse(R"({"momentum": {"type": "categorical", "choices": [0, 0.9]},
                                "batch": {"type": "categorical", "choices": [16, 32]}})"),
      "space.json");
  std::vector<Trial> trials;
  trials.push_back(trial(0, 1e-3, 16, 0.0, 0.3, 0.9));
  trials.push_back(trial(1, 1e-3, 32, 0.9, 0.3, 0.5));
  trials.push_back(trial(2, 1e-3, 16, 0.0, 0.3, 0.8));
  trials.push_back(trial(3, 1e-3, 32, 0.9, 0.3, 0.4));
  const Narrowing n = narrow(space, trials, 0.5);
  EXPECT_EQ(n.modes, (std::map<std::string, double>{{"batch", 16}, {"momentum", 0}}));
  EXPECT_EQ(n.space.get("momentum").choices, std::vector<double>{0});
  EXPECT_EQ(n.space.get("batch").choices, std::vector<double>{16});
  const auto j = n.to_json();
  EXPECT_EQ(j["mode"], (nlohmann::json{{"batch", 16}, {"momentum", 0}}));
  for (const KdeCurve& c : n.kde) {
    for (double v : c.all) EXPECT_TRUE(std::isfinite(v)) << c.name;
    for (double v : c.top) EXPECT_TRUE(std::isfinite(v)) << c.name;
  }
  EXPECT_EQ(n.kde[2].name, "momentum");
  EXPECT_EQ(n.kde[2].axis, "momentum");
  EXPECT_EQ(n.kde[1].axis, "log2(batch)");
}

}  // namespace
}  // namespace sgdlab

namespace sgdlab {
namespace {

// Seen keeps every choice of a categorical parameter that the top trials used (in the
// space's order), except the batch size, which keeps its mode as in the paper.
TEST(Narrow, SeenKeepsEveryChoiceTheTopTrialsUsedButTheBatchsMode) {
  SearchSpace space =
      SearchSpace::from_json({{"schedule", {{"type", "categorical"}, {"choices", {0, 1}}}},
                              {"nesterov", {{"type", "categorical"}, {"choices", {0, 1}}}}},
                             "test");
  std::vector<Trial> trials;
  auto add = [&](double batch, double schedule, double nesterov, double value) {
    Trial t = trial(int(trials.size()), 1e-3, batch, 0.9, 0.3, value);
    t.params["schedule"] = schedule;
    t.params["nesterov"] = nesterov;
    t.params["weight_decay"] = 1e-4;
    trials.push_back(t);
  };
  // 15 trials: the top 20% are the last three.
  for (int i = 0; i < 12; ++i) add(128, 0, 0, 0.1 + 0.01 * i);
  add(64, 1, 1, 0.99);
  add(64, 0, 1, 0.98);
  add(32, 0, 1, 0.97);
  const Narrowing mode = narrow(space, trials);
  EXPECT_EQ(mode.space.get("schedule").choices, std::vector<double>{0});
  const Narrowing seen = narrow(space, trials, 0.2, Choices::Seen);
  EXPECT_EQ(seen.space.get("schedule").choices, (std::vector<double>{0, 1}));
  EXPECT_EQ(seen.space.get("nesterov").choices, std::vector<double>{1});
  EXPECT_EQ(seen.space.get("batch").choices, std::vector<double>{64});
  EXPECT_EQ(parse_choices("seen", "--choices"), Choices::Seen);
  EXPECT_THROW(parse_choices("all", "--choices"), InputError);
}

}  // namespace
}  // namespace sgdlab
