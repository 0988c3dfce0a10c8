// The floors of docs/perf.md: FLOPs and bytes counted from a model's plan, checked
// against counts done by hand from the layer shapes of DESIGN §4.
#include <gtest/gtest.h>

#include "sgdlab/engine/cost.hpp"

namespace sgdlab {
namespace {

// Multiply-adds of one forward pass, layer by layer, and those of the first layer (whose
// input gradient is not computed).
struct HandCount {
  double macs, first_macs, params;
};

void expect_cost(const std::string& model, HandCount hand) {
  const TrainingCost c = training_cost(model_preset(model));
  EXPECT_DOUBLE_EQ(c.forward_flops_per_sample, 2 * hand.macs) << model;
  EXPECT_DOUBLE_EQ(c.train_flops_per_sample, 6 * hand.macs - 2 * hand.first_macs) << model;
  EXPECT_EQ(double(c.params), hand.params) << model;
  EXPECT_DOUBLE_EQ(c.parameter_bytes_per_step, 32 * hand.params) << model;
}

TEST(TrainingCost, MatchesHandCountsOfThePresets) {
  // conv 1->32 3x3 on 16x16, conv 32->64 3x3 on 8x8, dense 1024->128, 128->10.
  expect_cost("cnn", {256.0 * 32 * 9 + 64.0 * 64 * 288 + 1024 * 128 + 128 * 10, 256.0 * 32 * 9,
                      32 * 9 + 32 + 64 * 288 + 64 + 1024 * 128 + 128 + 1290});
  // local 1->8 3x3 at 14x14 locations, local 8->16 3x3 stride 2 at 6x6, dense 144->128->10.
  expect_cost("lcnn", {196.0 * 8 * 9 + 36.0 * 16 * 72 + 144 * 128 + 1280, 196.0 * 8 * 9,
                       196 * (8 * 9 + 8) + 36 * (16 * 72 + 16) + 144 * 128 + 128 + 1290});
  expect_cost("mlp", {256.0 * 128 + 128 * 64 + 64 * 32 + 32 * 10, 256.0 * 128,
                      256 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 330});
}

// Per op: forward reads x and writes y; backward reads dy and what it saved (x for dense,
// y for an activation, nothing for dropout) and writes dx, except for the first layer.
TEST(TrainingCost, MlpActivationBytesFollowTheOpModel) {
  const double dense[][2] = {{256, 128}, {128, 64}, {64, 32}, {32, 10}};
  double plain = 0, fused = 0;
  for (int i = 0; i < 4; ++i) {
    const double in = dense[i][0], out = dense[i][1];
    const double d = in + out + out + in + (i == 0 ? 0 : in);
    plain += d;
    fused += d;
    if (i == 3) break;
    plain += (out + out) + (out + out + out);  // activation: 2 forward, 3 backward
    plain += (out + out) + (out + out);        // dropout: 2 forward, 2 backward
    fused += (out + 2 * out) + (out + out + out);
  }
  EXPECT_DOUBLE_EQ(training_cost(model_preset("mlp"), false).activation_bytes_per_sample,
                   4 * plain);
  EXPECT_DOUBLE_EQ(training_cost(model_preset("mlp"), true).activation_bytes_per_sample, 4 * fused);
}

// Fusing ReLU and pooling stops the ReLU output from being written and read back: per
// conv block of output C and pooled size P, 8C + 2P floats become 3C + 2P.
TEST(TrainingCost, CnnFusionSavesFiveConvOutputsPerBlock) {
  const double saved = 5.0 * (32 * 16 * 16 + 64 * 8 * 8);
  // tanh then dropout: 2F + 3F and 2F + 2F floats; fused 3F + 3F.
  const double tanh_dropout = 3 * 128;
  EXPECT_DOUBLE_EQ(training_cost(model_preset("cnn"), false).activation_bytes_per_sample -
                       training_cost(model_preset("cnn"), true).activation_bytes_per_sample,
                   4 * (saved + tanh_dropout));
}

TEST(TrainingCost, WorkingSetCountsStateAndStoredActivations) {
  const TrainingCost c = training_cost(model_preset("mlp"));
  // Input 256, then 128 x3 (dense, relu, dropout), 64 x3, 32 x3, 10.
  EXPECT_DOUBLE_EQ(c.stored_floats_per_sample, 256 + 3 * 128 + 3 * 64 + 3 * 32 + 10);
  EXPECT_DOUBLE_EQ(working_set_bytes(c, 32, 32),
                   4.0 * 32 * (3.0 * 43562 + (256 + 3 * 128 + 3 * 64 + 3 * 32 + 10) * 32));
}

TEST(EpochFloor, ScalesWithSamplesStepsAndRates) {
  const TrainingCost c = training_cost(model_preset("cnn"));
  const EpochFloor f = epoch_floor(c, 5833, 32, 67e12, 3.35e12);
  EXPECT_DOUBLE_EQ(f.flops, c.train_flops_per_sample * 5833);
  // 182 full steps and one of 9 samples: 183 parameter updates.
  EXPECT_DOUBLE_EQ(f.bytes,
                   c.activation_bytes_per_sample * 5833 + c.parameter_bytes_per_step * 183);
  EXPECT_DOUBLE_EQ(f.flop_seconds, f.flops / 67e12);
  EXPECT_DOUBLE_EQ(f.byte_seconds, f.bytes / 3.35e12);
  // The figure: about 1,400 CNN trial-epochs/s at 67 TFLOP/s.
  EXPECT_NEAR(1 / f.flop_seconds, 1400, 10);
  const EpochFloor unknown = epoch_floor(c, 5833, 32, 0, 0);
  EXPECT_EQ(unknown.flop_seconds, 0);
  EXPECT_EQ(unknown.byte_seconds, 0);
}

}  // namespace
}  // namespace sgdlab
