// The per-lane hyperparameter table (engine/hyperparameters.hpp): one rule per field,
// asked by the trainer (messages name the field), the search space (its refusals) and
// the CLI (messages name the flag).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "sgdlab/search/space.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(Hyperparameters, EachEntrySetsAndReadsItsOwnField) {
  std::set<std::string> names;
  for (const Hyperparameter& h : lane_hyperparameters()) {
    EXPECT_TRUE(names.insert(h.name).second) << h.name << " twice";
    EXPECT_EQ(find_hyperparameter(h.name), &h);
    EXPECT_EQ(std::string(h.flag).rfind("--", 0), 0u) << h.flag;
    LaneSettings lane;
    const double before = h.get(lane);
    h.set(lane, 1);
    EXPECT_EQ(h.get(lane), 1) << h.name;
    // Only this field changed: every other entry reads as on a fresh lane.
    for (const Hyperparameter& other : lane_hyperparameters()) {
      if (&other != &h) {
        EXPECT_EQ(other.get(lane), other.get(LaneSettings{})) << h.name;
      }
    }
    h.set(lane, before);
  }
  EXPECT_EQ(find_hyperparameter("batch"), nullptr);
}

// A run records the settings that are always recorded, and the others only where they
// are not at their default; the printed flags say the same.
TEST(Hyperparameters, RunsRecordTheAlwaysRecordedAndWhatIsNotAtItsDefault) {
  LaneSettings lane;
  std::set<std::string> always;
  for (const Hyperparameter& h : lane_hyperparameters()) {
    if (!h.list_default) continue;
    EXPECT_TRUE(h.accepts(default_value(h))) << h.name << "'s default";
    ASSERT_NE(h.help, nullptr) << h.name;
    h.set(lane, default_value(h));
    if (h.always_recorded) always.insert(h.name);
  }
  EXPECT_EQ(always, (std::set<std::string>{"lr", "momentum", "dropout"}));
  std::set<std::string> keys;
  const nlohmann::json at_defaults = recorded_settings(lane);
  for (const auto& [key, value] : at_defaults.items()) keys.insert(key);
  EXPECT_EQ(keys, always);
  lane.label_smoothing = 0.1f;
  lane.beta2 = 0.99f;
  const nlohmann::json j = recorded_settings(lane);
  EXPECT_EQ(j.at("label_smoothing").get<double>(), double(0.1f));
  EXPECT_EQ(j.at("beta2").get<double>(), double(0.99f));
  EXPECT_FALSE(j.contains("beta1"));
  EXPECT_EQ(recorded_flags(lane, 9),
            " --lr 0.00999999978 --momentum 0.899999976 --dropout 0.300000012 --beta2 0.99000001"
            " --label-smoothing 0.100000001");
  EXPECT_EQ(model_hyperparameters(lane, 32).at("batch"), 32);
}

// The trainer names the field; the CLI names the flag (cli_test: "--lr: expected ...").
TEST(Hyperparameters, TrainerMessagesNameTheField) {
  LaneSettings lane;
  lane.lr = -1;
  EXPECT_EQ(input_error([&] { validate(lane); }), "lr: expected a learning rate > 0, got -1");
  lane = LaneSettings{};
  lane.augment.rotate = 200;
  const Hyperparameter* which = nullptr;
  EXPECT_EQ(lane_refusal(lane, &which), "expected rotate in [0, 180] degrees, got 200");
  ASSERT_NE(which, nullptr);
  EXPECT_STREQ(which->flag, "--augment");
  lane = LaneSettings{};
  lane.schedule.warmup = 2;
  EXPECT_EQ(lane_refusal(lane, nullptr), "");
  EXPECT_NO_THROW(validate(lane));
}

// The space refuses exactly what the trainer would (on the float the value becomes), and
// the search's lane settings carry every value it gives through the same entry.
TEST(Hyperparameters, TheSpaceAndTheSearchUseTheSameRules) {
  const double probes[] = {-1, 0, 1e-60, 0.5, 0.9, 0.95, 1, 1.5, 2, 64, 65, 180, 181, 1000, 1e300};
  for (const Hyperparameter& h : lane_hyperparameters())
    for (double v : probes) {
      const bool trainer = h.accepts(v) && h.accepts(double(float(v)));
      EXPECT_EQ(training_refusal(h.name, v).empty(), trainer) << h.name << " " << v;
    }
  ParamValues p = {{"lr", 0.05}, {"momentum", 0.8}, {"dropout", 0.2}};
  for (const Hyperparameter& h : lane_hyperparameters())
    if (!p.count(h.name)) p[h.name] = 1;
  const LaneSettings s = lane_settings(p, 3, 10, {1, 16, 16});
  for (const Hyperparameter& h : lane_hyperparameters())
    EXPECT_EQ(h.get(s), double(float(p[h.name]))) << h.name;
}

}  // namespace
}  // namespace sgdlab::test
