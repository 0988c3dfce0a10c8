// Label smoothing in the fused softmax cross-entropy, against PyTorch; training with it.
// The gradient check in double is the softmax_xent_smoothed case of op_gradient_test.cpp,
// CPU/CUDA parity CudaParity.SoftmaxCrossEntropy.
#include <gtest/gtest.h>

#include "cpu/softmax_xent.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// torch 1.13: z = [[1, -2, 0.5, 3], [0.2, 0.1, -0.3, 0], [-1, 4, 2, -3]], y = [3, 0, 2];
// F.cross_entropy(z, y, label_smoothing=0.1) (mean over the 3 rows) and z.grad.
TEST(LabelSmoothing, LossAndGradientArePyTorchs) {
  const std::vector<float> z = {1, -2, 0.5f, 3, 0.2f, 0.1f, -0.3f, 0, -1, 4, 2, -3};
  const std::vector<int32_t> y = {3, 0, 2};
  const std::vector<float> eps = {0.1f};
  const XentDims d{3, 1, 4, eps.data()};
  float loss = 0, correct = 0;
  std::vector<float> g(12);
  cpu::softmax_xent(d, z.data(), y.data(), g.data(), &loss, &correct, nullptr);
  EXPECT_NEAR(loss, 3.9463988542556763, 1e-6);  // the sum over the rows: 3 x the mean
  const double want[] = {0.028517909348011017,  -0.006498618051409721, 0.014018073678016663,
                         -0.036037370562553406, -0.2082361876964569,   0.08223827183246613,
                         0.052378635853528976,  0.07361925393342972,   -0.006368319038301706,
                         0.28330063819885254,   -0.2688649296760559,   -0.008067398332059383};
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(g[i], want[i], 1e-6) << i;
  EXPECT_EQ(correct, 2);  // rows 0 and 1 predict their labels, row 2 predicts 1, not 2
}

// A lane with smoothing 0 beside one with some trains exactly as alone; the smoothed
// lane's training loss is the smoothed one (larger), its evaluation loss plain.
TEST(LabelSmoothing, OnlyTheSmoothedLaneChanges) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(200, 50, 50));
  LaneSettings plain{0.02f, 0.9f, 0.0f, 3};
  LaneSettings smooth = plain;
  smooth.label_smoothing = 0.2f;
  Trainer pack(*cpu, dd, model_preset("mlp"), {plain, smooth}, TrainerOptions{32});
  Trainer alone(*cpu, dd, model_preset("mlp"), {plain}, TrainerOptions{32});
  const auto rows = pack.train_epoch();
  const auto single = alone.train_epoch();
  EXPECT_EQ(rows[0].train_loss, single[0].train_loss);
  EXPECT_EQ(rows[0].val_loss, single[0].val_loss);
  EXPECT_GT(rows[1].train_loss, rows[0].train_loss);
  EXPECT_EQ(extract_lane(pack.plan(), pack.parameters(), 0), alone.parameters());
  EXPECT_NE(extract_lane(pack.plan(), pack.parameters(), 1), alone.parameters());
  LaneSettings bad = plain;
  bad.label_smoothing = 1;
  EXPECT_NE(input_error([&] { validate(bad); }).find("label_smoothing: expected a value in [0, 1)"),
            std::string::npos);
}

}  // namespace
}  // namespace sgdlab::test
