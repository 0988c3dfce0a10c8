// Learning-rate schedules per step and per epoch: the formulas against PyTorch's
// schedulers, the parsing, and the rate every update of a training run actually used
// (seen by a spy on the backend's SGD op), also inside recorded steps.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/schedule.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/forwarding_backend.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// float relative precision, not a tolerance chosen to pass: both sides compute in
// double; sgdlab's base rate is the float nearest 0.1 and its result a float.
void expect_rate(float got, double want, int step) {
  EXPECT_NEAR(got, want, 2e-7 * std::abs(want) + 1e-12) << "step " << step;
}

std::vector<float> rates(const Schedule& s, float base, int steps_per_epoch, int steps) {
  const RateSchedule r = rate_schedule(base, s, steps_per_epoch);
  std::vector<float> out;
  for (int k = 0; k < steps; ++k) out.push_back(scheduled_rate(r, k));
  return out;
}

// torch 1.13: OneCycleLR(SGD(lr=0.1), max_lr=0.1, total_steps=20, pct_start=0.3,
// cycle_momentum=False); the rate each of the 20 optimizer steps used.
TEST(Schedule, OneCycleIsPyTorchs) {
  const double want[] = {0.0040000000000000036,
                         0.013167184270002533,
                         0.037167184270002526,
                         0.06683281572999747,
                         0.09083281572999748,
                         0.1,
                         0.09874640062350874,
                         0.09504846320134738,
                         0.089091617757105,
                         0.0811745653949763,
                         0.07169430017913009,
                         0.06112620219362893,
                         0.0500002,
                         0.03887419780637107,
                         0.028306099820869922,
                         0.0188258346050237,
                         0.010908782242895003,
                         0.004951936798652629,
                         0.0012539993764912555,
                         4e-07};
  // 4 epochs of 5 steps: 20 steps.
  const auto got = rates(parse_schedule("onecycle", 0, 4), 0.1f, 5, 20);
  for (int k = 0; k < 20; ++k) expect_rate(got[k], want[k], k);
}

// The same with pct_start 0.25 over 7 steps: the rise ends between steps 0 and 1.
TEST(Schedule, OneCycleWithAShortRiseIsPyTorchs) {
  const double want[] = {0.0040000000000000036,
                         0.09944154354509119,
                         0.08665264698111695,
                         0.06112620219362893,
                         0.03173322184988512,
                         0.008688426531955128,
                         4e-07};
  const auto got = rates(parse_schedule("onecycle:0.25", 0, 1), 0.1f, 7, 7);
  for (int k = 0; k < 7; ++k) expect_rate(got[k], want[k], k);
}

// CosineAnnealingLR(T_max = 12 steps) stepped every step, after 3 steps of warm-up
// (1 epoch of 3 steps): the per-epoch formula with steps in place of epochs.
TEST(Schedule, CosinePerStepWithWarmUp) {
  const Schedule s = parse_schedule("cosine-per-step", 1, 4);
  EXPECT_TRUE(s.per_step());
  const auto got = rates(s, 0.2f, 3, 12);
  for (int k = 0; k < 12; ++k) {
    double want = double(0.2f) * 0.5 * (1 + std::cos(M_PI * k / 12.0));
    if (k < 3) want *= (k + 1) / 4.0;
    expect_rate(got[k], want, k);
  }
}

// A per-epoch schedule keeps one rate through each epoch, whatever the steps.
TEST(Schedule, PerEpochKindsHoldTheirRateThroughAnEpoch) {
  const Schedule s = parse_schedule("cosine", 1, 3);
  EXPECT_FALSE(s.per_step());
  const auto got = rates(s, 0.2f, 4, 12);
  for (int k = 0; k < 12; ++k) EXPECT_EQ(got[k], scheduled_lr(0.2f, s, k / 4)) << k;
  EXPECT_EQ(scheduled_lr(0.2f, s, 2, 4), scheduled_lr(0.2f, s, 2));
}

TEST(Schedule, ArgumentsParseBackAndRefusalsAreClear) {
  for (const char* text : {"constant", "cosine", "cosine-per-step", "onecycle:0.25", "step:3:0.5"})
    EXPECT_EQ(
        schedule_argument(parse_schedule(schedule_argument(parse_schedule(text, 0, 5)), 0, 5)),
        schedule_argument(parse_schedule(text, 0, 5)))
        << text;
  EXPECT_EQ(parse_schedule("onecycle", 0, 5).pct_start, 0.3);
  EXPECT_EQ(parse_schedule("onecycle:0.25", 0, 5).pct_start, 0.25);
  EXPECT_EQ(to_string(parse_schedule("cosine-per-step", 2, 5)),
            "cosine per step after 2 warm-up epochs");
  for (const char* bad : {"onecycle:0", "onecycle:1", "onecycle:", "onecycle:x", "onecycle:0.3x",
                          "cosine-per-epoch", "one-cycle"})
    EXPECT_THROW(parse_schedule(bad, 0, 5), InputError) << bad;
  try {
    parse_schedule("onecycle", 2, 5);
    FAIL() << "onecycle with a warm-up was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--warmup"), std::string::npos) << e.what();
  }
  // 10 steps at 0.1: the rise ends at step 0, where PyTorch divides by zero.
  EXPECT_THROW(rate_schedule(0.1f, parse_schedule("onecycle:0.1", 0, 2), 5), InputError);
  EXPECT_NO_THROW(rate_schedule(0.1f, parse_schedule("onecycle:0.3", 0, 2), 5));
}

// Logs the rate each lane's update used, in order.
class RateSpy final : public ForwardingBackend {
 public:
  RateSpy() : ForwardingBackend(make_cpu_backend()) {}
  std::vector<std::vector<float>> used;  // [update][lane]
  void sgd_momentum(const FlatDims& d, const LaneArrays& lanes, float* params, const float* grads,
                    float* velocity, int64_t* counters) override {
    used.emplace_back(lanes.lr, lanes.lr + d.T);
    ForwardingBackend::sgd_momentum(d, lanes, params, grads, velocity, counters);
  }
};

const UspsData& small_data() {
  static const UspsData d = usps_head(200, 50, 50);
  return d;
}

// Every update of a pack uses its lane's scheduled rate at that step: onecycle and
// cosine per step beside a per-epoch cosine and a constant lane, recorded or not.
TEST(Schedule, EveryUpdateUsesTheScheduledRate) {
  for (Capture capture : {Capture::None, Capture::Step, Capture::Epoch}) {
    RateSpy spy;
    DeviceData dd(spy, small_data());
    const int epochs = 3;
    LaneSettings constant{0.05f, 0.9f, 0.0f, 1};
    LaneSettings cycle = constant, per_step = constant, per_epoch = constant;
    cycle.schedule = parse_schedule("onecycle", 0, epochs);
    per_step.schedule = parse_schedule("cosine-per-step", 1, epochs);
    per_epoch.schedule = parse_schedule("cosine", 0, epochs);
    TrainerOptions opt{64};
    opt.capture = capture;
    Trainer trainer(spy, dd, model_preset("mlp"), {constant, cycle, per_step, per_epoch}, opt);
    const int steps = trainer.steps_per_epoch();  // 4: 3 of 64 and a tail of 8
    ASSERT_EQ(steps, 4);
    std::vector<std::vector<float>> reported;
    for (int e = 0; e < epochs; ++e) {
      std::vector<float> lr;
      for (const auto& row : trainer.train_epoch()) lr.push_back(float(row.lr));
      reported.push_back(lr);
    }
    // The warm-up before recording runs a step of each shape and puts everything back.
    const size_t extra = capture == Capture::None ? 0 : 2;
    ASSERT_EQ(spy.used.size(), extra + size_t(epochs * steps));
    const LaneSettings lanes[] = {constant, cycle, per_step, per_epoch};
    for (int t = 0; t < 4; ++t) {
      const auto want = rates(lanes[t].schedule, lanes[t].lr, steps, epochs * steps);
      for (int k = 0; k < epochs * steps; ++k)
        EXPECT_EQ(spy.used[extra + k][t], want[k]) << "lane " << t << " step " << k;
      for (int e = 0; e < epochs; ++e) EXPECT_EQ(reported[e][t], want[e * steps]) << t;
    }
  }
}

// A pack whose schedules all hold through an epoch takes its rates from the epoch's
// upload, not from a per-step op: every update of an epoch has the epoch's rate.
TEST(Schedule, PerEpochPacksUseTheEpochsRates) {
  RateSpy spy;
  DeviceData dd(spy, small_data());
  LaneSettings constant{0.05f, 0.9f, 0.0f, 1};
  LaneSettings cosine = constant;
  cosine.schedule = parse_schedule("cosine", 1, 3);
  TrainerOptions opt{64};
  opt.capture = Capture::Epoch;
  Trainer trainer(spy, dd, model_preset("mlp"), {constant, cosine}, opt);
  for (int e = 0; e < 3; ++e) trainer.train_epoch();
  ASSERT_EQ(spy.used.size(), 2u + 12u);  // the warm-up's two steps, then 3 epochs of 4
  for (int k = 0; k < 12; ++k) {
    EXPECT_EQ(spy.used[2 + k][0], 0.05f) << k;
    EXPECT_EQ(spy.used[2 + k][1], scheduled_lr(0.05f, cosine.schedule, k / 4)) << k;
  }
}

// A onecycle run too short for its phases is refused when the trainer is made.
TEST(Schedule, TrainerRefusesAOneCycleWithNoRise) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, small_data());
  LaneSettings lane{0.05f, 0.9f, 0.0f, 1};
  lane.schedule = parse_schedule("onecycle:0.25", 0, 1);  // 4 steps: the rise ends at 0
  EXPECT_THROW(Trainer(*cpu, dd, model_preset("mlp"), {lane}, TrainerOptions{64}), InputError);
}

}  // namespace
}  // namespace sgdlab::test
