// The weights' moving average (--ema): AveragedModel's rule (the first update copies,
// then each step moves the average by 1 - decay of the way), on the parameters and the
// batch-norm statistics; evaluation and the saved models use it, training does not see
// it; the state keeps it. CPU/CUDA parity: CudaParity.EmaUpdate.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/ema.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(Ema, FirstUpdateCopiesThenMovesByOneMinusDecay) {
  const std::vector<ParamSlice> slices = {{0, 4, 0, 0}, {4, 2, 0, kSliceNotTrained}};
  const std::vector<float> decay = {0.9f, 0.0f};
  const std::vector<LaneState> state = {LaneState::Training, LaneState::Training};
  std::vector<float> average(6, 5.0f);
  const std::vector<float> p1 = {1, 2, 3, 4, 10, 20}, p2 = {2, 2, 2, 2, 30, 30};
  const FlatDims d{slices.data(), 2, 2, 6};
  cpu::ema_update(d, decay.data(), state.data(), true, p1.data(), average.data());
  EXPECT_EQ(average, p1);  // the first update copies, whatever the decay
  cpu::ema_update(d, decay.data(), state.data(), false, p2.data(), average.data());
  // Lane 0 (decay 0.9): elements 0, 1 and the state slice's element 4.
  EXPECT_FLOAT_EQ(average[0], 1 + 0.1f * (2 - 1));
  EXPECT_FLOAT_EQ(average[1], 2);
  EXPECT_FLOAT_EQ(average[4], 10 + 0.1f * (30 - 10));  // batch-norm state too
  // Lane 1 (decay 0: no average) holds a copy.
  EXPECT_EQ(average[2], 2);
  EXPECT_EQ(average[5], 30);
  const std::vector<LaneState> frozen = {LaneState::Diverged, LaneState::Training};
  const std::vector<float> before = average;
  cpu::ema_update(d, decay.data(), frozen.data(), false, p1.data(), average.data());
  EXPECT_EQ(average[0], before[0]);  // a lane that is not Training keeps its average
}

ModelSpec small_bn() {
  return model_from_json(nlohmann::json::parse(R"({"name": "bn", "input": [1, 16, 16],
      "classes": 10, "layers": [{"type": "conv2d", "out": 4, "kernel": 3, "pad": 1},
      {"type": "batchnorm"}, {"type": "relu"}, {"type": "max-pool", "kernel": 4},
      {"type": "dense", "out": 10}]})"),
                         "test");
}

// One step per epoch: after each, the host applies AveragedModel's rule to the trained
// weights; the pack's average (weights and batch-norm statistics) is that average.
TEST(Ema, TheAverageIsAveragedModelsOverEveryStep) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(64, 50, 50));
  LaneSettings lane{0.05f, 0.9f, 0.0f, 2};
  lane.ema = 0.8f;
  Trainer t(*cpu, dd, small_bn(), {lane}, TrainerOptions{64});
  ASSERT_EQ(t.steps_per_epoch(), 1);
  std::vector<double> want;
  for (int step = 1; step <= 6; ++step) {
    t.train_epoch();
    const std::vector<float> p = t.parameters();
    if (step == 1) want.assign(p.begin(), p.end());
    for (size_t i = 0; i < p.size(); ++i) want[i] += (1 - 0.8) * (double(p[i]) - want[i]);
  }
  const std::vector<float> got = t.evaluated_parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i;
  EXPECT_NE(got, t.parameters());
}

// Training does not see the average: a lane with one trains bit for bit as without, its
// raw validation figures are the plain lane's, and evaluation uses the average.
TEST(Ema, TrainingIsUnchangedAndValidationReportsBoth) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(300, 100, 100));
  LaneSettings plain{0.05f, 0.9f, 0.0f, 3};
  LaneSettings averaged = plain;
  averaged.ema = 0.9f;
  Trainer with(*cpu, dd, small_bn(), {averaged, plain}, TrainerOptions{32});
  Trainer without(*cpu, dd, small_bn(), {plain}, TrainerOptions{32});
  for (int e = 0; e < 3; ++e) {
    const auto a = with.train_epoch();
    const auto b = without.train_epoch();
    EXPECT_TRUE(a[0].averaged);
    EXPECT_EQ(a[0].train_loss, b[0].train_loss);
    EXPECT_EQ(a[0].raw_val_acc, b[0].val_acc);
    EXPECT_EQ(a[0].raw_val_loss, b[0].val_loss);
    EXPECT_NE(a[0].val_loss, a[0].raw_val_loss);  // the average's own figure
    EXPECT_EQ(a[1].val_loss, b[0].val_loss);      // no average: a copy of the weights
  }
  EXPECT_EQ(extract_lane(with.plan(), with.parameters(), 0), without.parameters());
  EXPECT_EQ(extract_lane(with.plan(), with.evaluated_parameters(), 1), without.parameters());
  // The test pass is the average's: equal to a pack given the averaged weights.
  Trainer check(*cpu, dd, small_bn(), {plain}, TrainerOptions{32});
  check.set_parameters(extract_lane(with.plan(), with.evaluated_parameters(), 0));
  EXPECT_EQ(with.evaluate(Split::Test)[0].loss, check.evaluate(Split::Test)[0].loss);
}

// The state carries the average: a pack restored from it goes on bit for bit; a state
// without one does not fit a pack that averages.
TEST(Ema, TheStateKeepsTheAverage) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(200, 50, 50));
  LaneSettings lane{0.05f, 0.9f, 0.0f, 4};
  lane.ema = 0.95f;
  Trainer a(*cpu, dd, small_bn(), {lane}, TrainerOptions{32});
  a.train_epoch();
  const TrainerState saved = a.state();
  EXPECT_EQ(saved.average.size(), saved.params.size());
  Trainer b(*cpu, dd, small_bn(), {lane}, TrainerOptions{32});
  b.restore(saved);
  a.train_epoch();
  b.train_epoch();
  EXPECT_EQ(a.evaluated_parameters(), b.evaluated_parameters());
  TrainerState none = saved;
  none.average.clear();
  EXPECT_NE(input_error([&] { b.restore(none); }).find("no moving average"), std::string::npos);
  LaneSettings bad = lane;
  bad.ema = 1;
  EXPECT_NE(input_error([&] { validate(bad); }).find("ema: expected a decay in (0, 1)"),
            std::string::npos);
}

}  // namespace
}  // namespace sgdlab::test
