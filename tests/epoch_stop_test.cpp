// TrainerOptions::stop_between_steps: an epoch stopped between two steps throws
// EpochStopped, and the pack put back with restore() trains on bit for bit as one that
// was never stopped (what sgdlab.Pack does on Ctrl-C), for each capture mode the host
// drives step by step.
#include <gtest/gtest.h>

#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

class EpochStop : public ::testing::TestWithParam<Capture> {};

TEST_P(EpochStop, AStoppedEpochRestoredTrainsAsOneNeverStopped) {
  auto backend = make_cpu_backend();
  const UspsData small = usps_head(300, 100, 100);
  DeviceData data(*backend, small);
  const ModelSpec model = model_preset("cnn");
  const std::vector<LaneSettings> lanes = {{0.05f, 0.9f, 0.2f, 5}, {0.02f, 0.5f, 0.0f, 6}};
  TrainerOptions options{32};
  options.capture = GetParam();
  Trainer plain(*backend, data, model, lanes, options);
  std::vector<std::vector<EpochStats>> expected;
  for (int e = 0; e < 3; ++e) expected.push_back(plain.train_epoch());

  int asked = 0, stop_at = -1;
  options.stop_between_steps = [&] { return ++asked == stop_at; };
  Trainer stopped(*backend, data, model, lanes, options);
  stopped.train_epoch();
  // Stop epoch 2 at its fourth step, put it back, and train on.
  const TrainerState before = stopped.state();
  stop_at = asked + 4;
  EXPECT_THROW(stopped.train_epoch(), EpochStopped);
  EXPECT_EQ(asked, stop_at);
  EXPECT_NE(stopped.parameters(), before.params);  // three steps were taken
  stopped.restore(before);
  EXPECT_EQ(stopped.epochs_done(), 1);
  for (int e = 1; e < 3; ++e) {
    const auto rows = stopped.train_epoch();
    for (size_t t = 0; t < lanes.size(); ++t) {
      EXPECT_EQ(rows[t].train_loss, expected[e][t].train_loss) << e << " " << t;
      EXPECT_EQ(rows[t].val_loss, expected[e][t].val_loss) << e << " " << t;
    }
  }
  EXPECT_EQ(stopped.parameters(), plain.parameters());
}

INSTANTIATE_TEST_SUITE_P(Captures, EpochStop, ::testing::Values(Capture::Step, Capture::None));

// A recorded epoch runs whole: the function is never asked.
TEST(EpochStopRecorded, AWholeEpochRecordingIsNotStopped) {
  auto backend = make_cpu_backend();
  const UspsData small = usps_head(100, 50, 50);
  DeviceData data(*backend, small);
  TrainerOptions options{32};
  options.capture = Capture::Epoch;
  int asked = 0;
  options.stop_between_steps = [&] { return ++asked > 0; };
  Trainer t(*backend, data, model_preset("mlp"), {{0.05f, 0.9f, 0.0f, 1}}, options);
  EXPECT_NO_THROW(t.train_epoch());
  EXPECT_EQ(asked, 0);
}

}  // namespace
}  // namespace sgdlab::test
