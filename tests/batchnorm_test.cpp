// Batch normalisation: one training step against PyTorch, the running statistics and
// evaluation mode, lanes that do not share statistics, and the refusals. The gradient
// check in double is the batchnorm cases of op_gradient_test.cpp; CPU/CUDA parity
// CudaParity.BatchNorm.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/batchnorm.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// tests/torch_references/batchnorm_step.py's network: conv2d 3 (2x2) - bn - relu - dense 4
// - bn (momentum 0.3) - tanh - dense 3, on 2x3x3 images.
ModelSpec small_bn_model() {
  ModelSpec m;
  m.name = "small-bn";
  m.input = {2, 3, 3};
  m.classes = 3;
  LayerSpec bn2{LayerKind::BatchNorm};
  bn2.momentum = 0.3;
  m.layers = {{LayerKind::Conv2d, 3, 2, 1, 0},
              {LayerKind::BatchNorm},
              {LayerKind::Relu},
              {LayerKind::Dense, 4},
              bn2,
              {LayerKind::Tanh},
              {LayerKind::Dense, 3}};
  return m;
}

// Six 2x3x3 images, x[k] = sin(0.7 k + 0.3) over the flat [6, 18], labels 0, 1, 2, ...
UspsData six_images() {
  Dataset d;
  d.image = {2, 3, 3};
  d.features = 18;
  for (int k = 0; k < 6 * 18; ++k) d.x.push_back(float(std::sin(0.7 * k + 0.3)));
  for (int k = 0; k < 6; ++k) d.y.push_back(k % 3);
  UspsData u;
  u.train = u.val = u.test = d;
  return u;
}

// The trained tensors set to 0.5 sin(1.3 i + phase) in PyTorch's layout, phase their
// index among them; the running statistics left at their start.
std::vector<float> formula_parameters(const NetworkPlan& single) {
  SafetensorsFile f;
  int phase = 0;
  for (Tensor& t : model_tensors(single, initial_parameters(single, {LaneInit{1}}))) {
    if (t.name.find("running") == std::string::npos &&
        t.name.find("tracked") == std::string::npos) {
      for (size_t i = 0; i < t.data.size(); ++i)
        t.data[i] = float(0.5 * std::sin(1.3 * double(i) + phase));
      ++phase;
    }
    f.tensors.push_back(t);
  }
  return params_from_tensors(single, f, "formula");
}

// What batchnorm_step.py printed with torch 1.13 on the CPU. The changes are those of
// parameters near 0.5 (a float's step there is 6e-8) summed over up to 48 values: 2e-4
// relative and 2e-7 absolute is their rounding, far below what a wrong term changes.
TEST(BatchNorm, OneTrainingStepIsPyTorchs) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, six_images());
  const ModelSpec model = small_bn_model();
  const NetworkPlan single(model, 1);
  LaneSettings lane{0.1f, 0.0f, 0.0f, 1};
  Trainer trainer(*cpu, dd, model, {lane}, TrainerOptions{6});
  const std::vector<float> before = formula_parameters(single);
  trainer.set_parameters(before);
  const std::vector<EpochStats> rows = trainer.train_epoch();
  EXPECT_NEAR(rows[0].train_loss, 1.22528791, 1e-6);

  const std::vector<Tensor> start = model_tensors(single, before);
  const std::vector<Tensor> end = model_tensors(single, trainer.parameters());
  const std::map<std::string, std::pair<double, double>> changes = {
      {"conv1.weight", {-0.00157413779, 0.00343442361}},
      {"conv1.bias", {0, 0}},
      {"bn1.weight", {0.000664902533, 0.000882595778}},
      {"bn1.bias", {-0.000862048967, 0.00116736442}},
      {"dense1.weight", {-0.000190766094, 0.00204187632}},
      {"dense1.bias", {2.60489251e-09, 2.79396772e-09}},
      {"bn2.weight", {0.00757318041, 0.033539772}},
      {"bn2.bias", {0.00254375633, 0.0193347633}},
      {"dense2.weight", {-0.0135250435, 0.0783204883}},
      {"dense2.bias", {-0.00340112817, 0.0299239606}}};
  const std::map<std::string, std::vector<double>> buffers = {
      {"bn1.running_mean", {0.0230896976, -0.0367553048, 0.0799290091}},
      {"bn1.running_var", {0.959077179, 0.960879683, 0.945710123}},
      {"bn2.running_mean", {-0.237776712, 0.092417255, 0.0603824668, 0.153881401}},
      {"bn2.running_var", {0.70078212, 0.700946748, 0.70110327, 0.701244235}},
      {"bn1.num_batches_tracked", {1}},
      {"bn2.num_batches_tracked", {1}}};
  ASSERT_EQ(start.size(), changes.size() + buffers.size());
  for (size_t k = 0; k < end.size(); ++k) {
    const std::string& name = end[k].name;
    if (changes.count(name)) {
      double projected = 0, moved = 0;
      for (size_t i = 0; i < end[k].data.size(); ++i) {
        const double delta = double(end[k].data[i]) - double(start[k].data[i]);
        projected += delta * std::cos(0.37 * double(i));
        moved += std::abs(delta);
      }
      const auto [want_projected, want_moved] = changes.at(name);
      EXPECT_NEAR(projected, want_projected, 2e-4 * std::abs(want_projected) + 2e-7) << name;
      EXPECT_NEAR(moved, want_moved, 2e-4 * want_moved + 2e-7) << name;
    } else {
      const std::vector<double>& want = buffers.at(name);
      ASSERT_EQ(end[k].data.size(), want.size()) << name;
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(end[k].data[i], want[i], 1e-5 * std::abs(want[i]) + 1e-7) << name << " " << i;
    }
  }
}

// The running statistics move only for Training lanes; each lane normalises with its
// own; evaluation uses the running statistics, so it is the same for any batch.
TEST(BatchNorm, RunningStatisticsAreEachLanesAndOnlyTrainingLanesMoveThem) {
  const BatchNormDims d{4, 2, 3, 5, 1e-5f, 0.1f};
  const std::vector<float> x = random_floats(size_t(d.B) * d.T * d.C * d.HW, 7, -2, 3);
  const std::vector<float> gamma(6, 1.0f), beta(6, 0.0f);
  std::vector<float> mean(6, 0.0f), var(6, 1.0f), tracked(2, 0.0f), y(x.size());
  const std::vector<LaneState> state = {LaneState::Training, LaneState::Pruned};
  cpu::batchnorm_forward(d, true, state.data(),
                         {gamma.data(), beta.data(), mean.data(), var.data(), tracked.data()},
                         x.data(), y.data());
  EXPECT_EQ(tracked, (std::vector<float>{1, 0}));
  for (int c = 0; c < 3; ++c) {
    // Lane 0, channel c, by hand: its values are x[((b * 2 + 0) * 3 + c) * 5 + i].
    double sum = 0, sq = 0, out_sum = 0;
    for (int b = 0; b < d.B; ++b)
      for (int i = 0; i < d.HW; ++i) sum += x[((b * 2) * 3 + c) * 5 + i];
    const double m = sum / 20;
    for (int b = 0; b < d.B; ++b)
      for (int i = 0; i < d.HW; ++i) {
        const size_t k = ((b * 2) * 3 + c) * 5 + i;
        sq += (x[k] - m) * (x[k] - m);
        out_sum += y[k];
      }
    EXPECT_NEAR(mean[c], 0.1 * m, 1e-6) << c;
    EXPECT_NEAR(var[c], 0.9 + 0.1 * sq / 19, 1e-5) << c;  // unbiased
    EXPECT_NEAR(out_sum, 0, 1e-4) << c;                   // normalised: mean 0
    EXPECT_EQ(mean[3 + c], 0.0f);                         // the pruned lane's statistics stay
    EXPECT_EQ(var[3 + c], 1.0f);
  }
  // Evaluation: y = (x - mean) / sqrt(var + eps) per value, whatever the batch.
  std::vector<float> one(x.begin(), x.begin() + 2 * 3 * 5), y_one(one.size());
  cpu::batchnorm_forward(BatchNormDims{1, 2, 3, 5, 1e-5f, 0.1f}, false, state.data(),
                         {gamma.data(), beta.data(), mean.data(), var.data(), tracked.data()},
                         one.data(), y_one.data());
  for (size_t k = 0; k < one.size(); ++k) {
    const size_t tc = k / 5;
    EXPECT_NEAR(y_one[k], (one[k] - mean[tc]) / std::sqrt(var[tc] + 1e-5f), 1e-6) << k;
  }
}

// A pack of two lanes trains each as it would alone, running statistics included, and
// evaluation (validation each epoch) leaves the statistics where training put them.
TEST(BatchNorm, EachLaneOfAPackTrainsAsAlone) {
  const ModelSpec m = model_from_json(
      nlohmann::json::parse(R"({"name": "bn", "input": [1, 16, 16], "classes": 10, "layers": [
        {"type": "conv2d", "out": 6, "kernel": 3, "pad": 1}, {"type": "batchnorm"},
        {"type": "relu"}, {"type": "max-pool", "kernel": 2}, {"type": "dense", "out": 16},
        {"type": "batchnorm", "momentum": 0.2}, {"type": "relu"}, {"type": "dense", "out": 10}]})"),
      "test");
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(300, 100, 100));
  LaneSettings a{0.05f, 0.9f, 0.0f, 3}, b{0.02f, 0.5f, 0.0f, 4};
  Trainer pack(*cpu, dd, m, {a, b}, TrainerOptions{32});
  Trainer alone(*cpu, dd, m, {b}, TrainerOptions{32});
  for (int e = 0; e < 2; ++e) {
    const auto rows = pack.train_epoch();
    const auto single = alone.train_epoch();
    EXPECT_EQ(rows[1].train_loss, single[0].train_loss);
    EXPECT_EQ(rows[1].val_acc, single[0].val_acc);
  }
  EXPECT_EQ(extract_lane(pack.plan(), pack.parameters(), 1), alone.parameters());
  // 300 samples in steps of 32: 10 steps an epoch moved the statistics 20 times.
  const NetworkPlan single(m, 1);
  for (const Tensor& t : model_tensors(single, alone.parameters()))
    if (t.name.find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(t.data[0], 20) << t.name;
    }
  const std::vector<float> trained = alone.parameters();
  alone.evaluate(Split::Test);
  EXPECT_EQ(alone.parameters(), trained);
}

TEST(BatchNorm, RefusalsNameTheLayerAndWhy) {
  auto refusal = [](const std::string& layers) {
    return input_error([&] {
      model_from_json(
          nlohmann::json::parse(R"({"input": [1, 4, 4], "classes": 2, "layers": )" + layers + "}"),
          "m.json");
    });
  };
  const std::string dense2 = R"({"type": "dense", "out": 2})";
  EXPECT_NE(refusal(R"([{"type": "batchnorm"}, )" + dense2 + "]")
                .find("m.json: layer 1 batchnorm: the first layer has only the input images"),
            std::string::npos);
  EXPECT_NE(refusal(R"([{"type": "dense", "out": 4}, {"type": "batchnorm"}, {"type": "batchnorm"},
                      )" +
                    dense2 + "]")
                .find("layer 3 batchnorm: follows another batchnorm"),
            std::string::npos);
  for (const char* bad : {R"("eps": 0)", R"("eps": -1)", R"("momentum": 1.5)",
                          R"("momentum": -0.1)", R"("eps": "small")"}) {
    const std::string why = refusal(R"([{"type": "dense", "out": 4}, {"type": "batchnorm", )" +
                                    std::string(bad) + "}, " + dense2 + "]");
    EXPECT_NE(why.find("layer 2 batchnorm: \""), std::string::npos) << bad << ": " << why;
  }
  // A dense layer's batch norm on a step of one sample: 7 samples in steps of 3.
  const ModelSpec m =
      model_from_json(nlohmann::json::parse(R"({"input": [1, 16, 16], "classes": 10, "layers": [
        {"type": "dense", "out": 4}, {"type": "batchnorm"}, {"type": "dense", "out": 10}]})"),
                      "m.json");
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(7, 5, 5));
  const std::string why =
      input_error([&] { Trainer(*cpu, dd, m, {LaneSettings{}}, TrainerOptions{3}); });
  EXPECT_NE(why.find("bn1 (batchnorm over 4 features): a training step of 1 sample"),
            std::string::npos)
      << why;
  Trainer fine(*cpu, dd, m, {LaneSettings{}}, TrainerOptions{4});  // steps of 4 and 3
  EXPECT_NO_THROW(fine.train_epoch());
}

// eps and momentum are written back when not PyTorch's defaults, and read as written.
TEST(BatchNorm, KeysRoundTrip) {
  const ModelSpec m =
      model_from_json(nlohmann::json::parse(R"({"input": [1, 4, 4], "classes": 2, "layers": [
        {"type": "dense", "out": 4}, {"type": "batchnorm", "eps": 0.001, "momentum": 0.01},
        {"type": "dense", "out": 4}, {"type": "batchnorm"}, {"type": "dense", "out": 2}]})"),
                      "m.json");
  const nlohmann::json j = model_to_json(m);
  EXPECT_EQ(j["layers"][1],
            (nlohmann::json{{"type", "batchnorm"}, {"eps", 0.001}, {"momentum", 0.01}}));
  EXPECT_EQ(j["layers"][3], (nlohmann::json{{"type", "batchnorm"}}));
  EXPECT_TRUE(model_from_json(j, "again").layers[1] == m.layers[1]);
  EXPECT_EQ(m.layers[1].eps, 0.001);
}

}  // namespace
}  // namespace sgdlab::test
