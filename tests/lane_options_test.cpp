// lane_settings_from (engine/lane_options.hpp): the named settings the Python module
// takes give the lanes `train`'s flags give, with the same refusals.
#include <gtest/gtest.h>

#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/lane_options.hpp"

namespace sgdlab::test {
namespace {

using nlohmann::json;

TEST(LaneOptions, NothingGivenIsTrainsDefaults) {
  const LaneSettings lane = lane_settings_from(json::object(), 10, "lane");
  for (const Hyperparameter& h : lane_hyperparameters())
    if (h.list_default) EXPECT_EQ(h.get(lane), default_value(h)) << h.name;
  EXPECT_EQ(lane.seed, 1u);
  EXPECT_FALSE(lane.nesterov);
  EXPECT_EQ(lane.schedule.kind, Schedule::Constant);
  EXPECT_FALSE(lane.augment.on());
}

TEST(LaneOptions, EveryKindOfSettingIsRead) {
  const LaneSettings lane =
      lane_settings_from(json{{"lr", 0.05},
                              {"momentum", 0.8},
                              {"nesterov", true},
                              {"seed", 18446744073709551615ull},
                              {"init", "uniform:-0.1:0.1"},
                              {"augment", "shift=2,rotate=10,alpha=6,sigma=2.5"},
                              {"schedule", "cosine"},
                              {"warmup", 2},
                              {"label_smoothing", 0.1}},
                         10, "lane");
  EXPECT_FLOAT_EQ(lane.lr, 0.05f);
  EXPECT_FLOAT_EQ(lane.momentum, 0.8f);
  EXPECT_TRUE(lane.nesterov);
  EXPECT_EQ(lane.seed, 18446744073709551615ull);
  EXPECT_EQ(lane.init, InitKind::Uniform);
  EXPECT_FLOAT_EQ(lane.init_low, -0.1f);
  EXPECT_FLOAT_EQ(lane.augment.shift, 2.0f);
  EXPECT_FLOAT_EQ(lane.augment.elastic_sigma, 2.5f);
  EXPECT_EQ(lane.schedule.kind, Schedule::Cosine);
  EXPECT_EQ(lane.schedule.warmup, 2);
  EXPECT_EQ(lane.schedule.epochs, 10);
  EXPECT_FLOAT_EQ(lane.label_smoothing, 0.1f);
  // The augmentation's fields one by one give the same lane as its text.
  const LaneSettings fields = lane_settings_from(
      json{{"shift", 2}, {"rotate", 10}, {"elastic_alpha", 6}, {"elastic_sigma", 2.5}}, 10, "l");
  EXPECT_EQ(fields.augment.shift, lane.augment.shift);
  EXPECT_EQ(fields.augment.elastic_alpha, lane.augment.elastic_alpha);
}

void expect_refused(const json& options, const std::string& message) {
  try {
    lane_settings_from(options, 10, "lanes[2]");
    ADD_FAILURE() << options.dump() << " was taken";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(LaneOptions, MistakesAreOneLineNamingTheLaneAndTheSetting) {
  expect_refused(json{{"lr", 0}}, "lanes[2]: lr: expected a learning rate > 0, got 0");
  expect_refused(json{{"lr", "fast"}}, "lanes[2]: lr: expected a number");
  expect_refused(json{{"learning_rate", 0.1}}, "lanes[2]: unknown setting 'learning_rate'");
  expect_refused(json{{"seed", -1}}, "lanes[2]: seed: expected an integer");
  expect_refused(json{{"augment", "shift=1"}, {"rotate", 3}}, "not both");
  expect_refused(json{{"schedule", "onecycle"}, {"warmup", 1}}, "onecycle warms up by itself");
  expect_refused(json{{"augment", "alpha=3"}}, "give the smoothing too");
  expect_refused(json{{"dropout", 1.0}}, "lanes[2]: dropout: expected a rate in [0, 1)");
  expect_refused(json{{"init", "he"}}, "lanes[2]: init: expected 'xavier' or 'uniform:LOW:HIGH'");
  expect_refused(json{{"schedule", "sometimes"}}, "lanes[2]: schedule: expected constant");
  expect_refused(json{{"elastic_alpha", 6}}, "lanes[2]: elastic_alpha: give the smoothing too");
  expect_refused(json::array({1, 2}), "lanes[2]: expected named settings");
}

}  // namespace
}  // namespace sgdlab::test
