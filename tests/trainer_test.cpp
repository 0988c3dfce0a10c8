// Training: a pack equals its lanes run alone; divergence freezes one lane only; an
// end-to-end run on the real data.
#include <gtest/gtest.h>

#include <cmath>

#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

const UspsData& real_data() {
  static const UspsData data = load_usps({real_data_dir()});
  return data;
}

Dataset head(const Dataset& d, size_t n) {
  Dataset out{d.features, {}, {}};
  out.x.assign(d.x.begin(), d.x.begin() + n * d.features);
  out.y.assign(d.y.begin(), d.y.begin() + n);
  return out;
}

// A small slice of the real data keeps the pack tests quick; 470 is no multiple of the
// batch sizes used, so the shorter last step runs too.
const UspsData& small_data() {
  static const UspsData data{head(real_data().train, 470), head(real_data().val, 200),
                             head(real_data().test, 200), "head"};
  return data;
}

void expect_rel_near(double a, double b, double tol, const std::string& what) {
  EXPECT_LE(std::abs(a - b), tol * std::max(1.0, std::abs(b))) << what << ": " << a << " vs " << b;
}

class PackEquivalence : public ::testing::TestWithParam<std::string> {};

TEST_P(PackEquivalence, PackOfThreeEqualsThreeSingleRuns) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, small_data());
  const ModelSpec model = model_preset(GetParam());
  const std::vector<LaneSettings> lanes = {
      {0.02f, 0.9f, 0.3f, 11}, {0.05f, 0.5f, 0.0f, 22}, {0.005f, 0.95f, 0.6f, 33}};
  Trainer pack(*backend, data, model, lanes, {16, 64});
  std::vector<std::vector<EpochStats>> pack_rows;
  for (int e = 0; e < 2; ++e) pack_rows.push_back(pack.train_epoch());
  const auto pack_params = pack.parameters();
  for (int t = 0; t < 3; ++t) {
    Trainer single(*backend, data, model, {lanes[t]}, {16, 64});
    for (int e = 0; e < 2; ++e) {
      const EpochStats s = single.train_epoch()[0];
      const EpochStats& p = pack_rows[e][t];
      const std::string where =
          GetParam() + " lane " + std::to_string(t) + " epoch " + std::to_string(e);
      expect_rel_near(p.train_loss, s.train_loss, 1e-5, where + " train_loss");
      expect_rel_near(p.val_loss, s.val_loss, 1e-5, where + " val_loss");
      expect_rel_near(p.val_acc, s.val_acc, 1e-5, where + " val_acc");
      expect_rel_near(p.grad_mean_abs, s.grad_mean_abs, 1e-5, where + " grad_mean_abs");
      expect_rel_near(p.grad_l2, s.grad_l2, 1e-5, where + " grad_l2");
      for (size_t l = 0; l < s.layer_grad_l2.size(); ++l)
        expect_rel_near(p.layer_grad_l2[l], s.layer_grad_l2[l], 1e-5, where + " layer grad_l2");
    }
    const auto lane_params = extract_lane(pack.plan(), pack_params, t);
    const auto single_params = single.parameters();
    ASSERT_EQ(lane_params.size(), single_params.size());
    for (size_t i = 0; i < lane_params.size(); ++i)
      ASSERT_NEAR(lane_params[i], single_params[i],
                  1e-5 * std::max(1.0f, std::abs(single_params[i])))
          << GetParam() << " lane " << t << " parameter " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PackEquivalence, ::testing::Values("mlp", "cnn", "lcnn"));

TEST(Trainer, ADivergingLaneIsFrozenAndTheOthersGoOn) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, small_data());
  // Lane 1's learning rate makes the loss overflow within the first epoch.
  Trainer pack(*backend, data, model_preset("mlp"),
               {{0.05f, 0.9f, 0.0f, 1}, {1e30f, 0.9f, 0.0f, 2}}, {16, 64});
  const auto rows = pack.train_epoch();
  EXPECT_FALSE(rows[0].diverged);
  EXPECT_TRUE(rows[1].diverged);
  const auto frozen_params = extract_lane(pack.plan(), pack.parameters(), 1);
  const auto rows2 = pack.train_epoch();
  EXPECT_TRUE(rows2[1].diverged);
  EXPECT_EQ(extract_lane(pack.plan(), pack.parameters(), 1), frozen_params);  // no more updates
  EXPECT_GT(rows2[0].val_acc, 0.5);
  EXPECT_TRUE(std::isfinite(rows2[0].train_loss));
}

TEST(Trainer, SeededRunIsReproducible) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, small_data());
  auto run = [&] {
    Trainer t(*backend, data, model_preset("lcnn"), {{0.02f, 0.9f, 0.3f, 5}}, {32, 64});
    t.train_epoch();
    return t.parameters();
  };
  EXPECT_EQ(run(), run());
}

// ReLU then max-pool, and an activation then dropout, become one stage each.
TEST(Stages, PairTheFusableLayersOfThePresets) {
  auto kinds = [](const std::string& model, bool fuse) {
    std::string out;
    for (const Stage& st : make_stages(NetworkPlan(model_preset(model), 1), fuse))
      out += st.kind == Stage::ReluPool ? 'P' : st.kind == Stage::ActivationDropout ? 'D' : 'L';
    return out;
  };
  EXPECT_EQ(kinds("cnn", true), "LPLPLDL");   // conv, relu+pool, conv, relu+pool, dense, ...
  EXPECT_EQ(kinds("lcnn", true), "LLLPLDL");  // local, relu, local, relu+pool, dense, ...
  EXPECT_EQ(kinds("mlp", true), "LDLDLDL");
  EXPECT_EQ(kinds("cnn", false), std::string(10, 'L'));
}

// The fused ops compute what the layers do one by one, bit for bit: the same parameters
// and metrics after an epoch of each model with dropout on.
TEST(Trainer, FusedStagesEqualLayerByLayer) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, small_data());
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    auto run = [&](bool fuse) {
      TrainerOptions o;
      o.batch = 16;
      o.eval_batch = 64;
      o.fuse = fuse;
      Trainer t(*backend, data, model_preset(m), {{0.05f, 0.9f, 0.4f, 3}, {0.02f, 0.5f, 0.2f, 4}},
                o);
      const auto rows = t.train_epoch();
      std::vector<double> metrics;
      for (const auto& r : rows)
        metrics.insert(metrics.end(), {r.train_loss, r.val_loss, r.grad_l2});
      return std::make_pair(t.parameters(), metrics);
    };
    const auto fused = run(true), plain = run(false);
    EXPECT_EQ(fused.first, plain.first) << m;
    EXPECT_EQ(fused.second, plain.second) << m;
  }
}

// Replaying a recorded step, a recorded epoch, or running eagerly: the same training
// (on the CPU a recording is its function; this checks the step order and the tail).
TEST(Trainer, EveryCaptureModeTrainsTheSame) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, small_data());
  auto run = [&](Capture capture) {
    TrainerOptions o;
    o.batch = 24;  // a tail step every epoch
    o.eval_batch = 64;
    o.capture = capture;
    Trainer t(*backend, data, model_preset("mlp"), {{0.05f, 0.9f, 0.3f, 9}}, o);
    t.train_epoch();
    t.train_epoch();
    return t.parameters();
  };
  const auto step = run(Capture::Step);
  EXPECT_EQ(step, run(Capture::Epoch));
  EXPECT_EQ(step, run(Capture::None));
}

TEST(Trainer, PrunedLaneStopsUpdating) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, small_data());
  Trainer pack(*backend, data, model_preset("mlp"),
               {{0.05f, 0.9f, 0.0f, 1}, {0.05f, 0.9f, 0.0f, 2}}, {16, 64});
  pack.train_epoch();
  pack.prune(0);
  const auto before = extract_lane(pack.plan(), pack.parameters(), 0);
  const auto rows = pack.train_epoch();
  EXPECT_TRUE(rows[0].pruned);
  EXPECT_EQ(extract_lane(pack.plan(), pack.parameters(), 0), before);
}

TEST(EndToEnd, CnnThreeEpochsOnRealDataReaches95PercentValidation) {
  auto backend = make_cpu_backend();
  DeviceData data(*backend, real_data());
  Trainer trainer(*backend, data, model_preset("cnn"), {{0.01f, 0.9f, 0.3f, 1}}, {32});
  EpochStats last;
  for (int e = 0; e < 3; ++e) last = trainer.train_epoch()[0];
  EXPECT_GE(last.val_acc, 0.95) << "validation accuracy after 3 epochs";
  const auto test = trainer.evaluate(Split::Test);
  EXPECT_GE(test[0].acc, 0.93);
  // Probabilities agree with the accuracy the evaluation reports.
  const auto probs = trainer.probabilities(Split::Test);
  int correct = 0;
  for (size_t i = 0; i < real_data().test.size(); ++i) {
    const float* p = probs.data() + i * 10;
    correct += int(std::max_element(p, p + 10) - p) == real_data().test.y[i];
  }
  EXPECT_NEAR(double(correct) / real_data().test.size(), test[0].acc, 1e-9);
}

}  // namespace
}  // namespace sgdlab::test
