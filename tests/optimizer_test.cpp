// Optimisers as descriptions (optimizer.hpp): each kind's name reads back, its slots are
// saved in resume checkpoints under their names, and a checkpoint or a saved state of
// another optimizer, or one missing a slot, is refused in one line.
#include <gtest/gtest.h>

#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/optimizer.hpp"
#include "sgdlab/engine/safetensors.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(Optimizer, EveryKindHasANamedDescriptionWithDistinctSlots) {
  for (OptimizerKind k : all_optimizer_kinds()) {
    const Optimizer& o = optimizer(k);
    EXPECT_EQ(o.kind(), k);
    EXPECT_EQ(&optimizer_named(o.name(), "test"), &o);
    ASSERT_FALSE(o.slots().empty()) << o.name();
    const std::set<std::string> names(o.slots().begin(), o.slots().end());
    EXPECT_EQ(names.size(), o.slots().size()) << o.name();
    EXPECT_FALSE(names.count("params")) << o.name();
  }
  EXPECT_EQ(std::vector<std::string>{"velocity"}, optimizer(OptimizerKind::Sgd).slots());
  EXPECT_EQ((std::vector<std::string>{"exp_avg", "exp_avg_sq"}),
            optimizer(OptimizerKind::AdamW).slots());
  EXPECT_NE(input_error([] { optimizer_named("lion", "ckpt"); }).find("ckpt: unknown optimizer"),
            std::string::npos);
}

const std::map<std::string, std::string> kResumeMetadata = {
    {"format", "sgdlab-resume"}, {"epoch", "1"},   {"global_step", "3"},
    {"lane_state", "[0]"},       {"config", "{}"}, {"metrics", "[]"}};

// A checkpoint written before optimizers had names holds SGD's velocity; one naming an
// unknown optimizer, or missing a slot, is refused naming it.
TEST(Optimizer, ResumeCheckpointsKeepEachSlotByName) {
  TempDir dir;
  const std::vector<Tensor> sgd = {{"params", {2}, {1, 2}}, {"velocity", {2}, {3, 4}}};
  write_safetensors(dir / "old.safetensors", sgd, kResumeMetadata);
  const ResumeCheckpoint old = load_resume_checkpoint(dir / "old.safetensors");
  EXPECT_EQ(old.state.optimizer, "sgd");
  ASSERT_EQ(old.state.slots.size(), 1u);
  EXPECT_EQ(old.state.slots[0].name, "velocity");
  EXPECT_EQ(old.state.slots[0].data, (std::vector<float>{3, 4}));
  // Written again, the optimizer is named and the slot kept.
  ResumeCheckpoint again = old;
  save_resume_checkpoint(dir / "again.safetensors", again);
  const SafetensorsFile f = read_safetensors(dir / "again.safetensors");
  EXPECT_EQ(f.metadata.at("optimizer"), "sgd");
  ASSERT_NE(f.find("velocity"), nullptr);
  EXPECT_EQ(f.find("velocity")->data, (std::vector<float>{3, 4}));

  auto meta = kResumeMetadata;
  meta["optimizer"] = "lion";
  write_safetensors(dir / "lion.safetensors", sgd, meta);
  EXPECT_NE(input_error([&] {
              load_resume_checkpoint(dir / "lion.safetensors");
            }).find("unknown optimizer 'lion'"),
            std::string::npos);
  write_safetensors(dir / "bare.safetensors", {{"params", {2}, {1, 2}}}, kResumeMetadata);
  EXPECT_NE(input_error([&] {
              load_resume_checkpoint(dir / "bare.safetensors");
            }).find("no velocity tensor"),
            std::string::npos);
}

// A pack takes back only the state of its own optimizer, slot for slot.
TEST(Optimizer, RestoreChecksTheOptimizerAndItsSlots) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(100, 20, 20));
  Trainer trainer(*cpu, dd, model_preset("mlp"), {LaneSettings{}}, TrainerOptions{50});
  trainer.train_epoch();
  const TrainerState good = trainer.state();
  ASSERT_EQ(good.slots.size(), 1u);
  EXPECT_EQ(good.slots[0].name, "velocity");
  EXPECT_NE(good.slots[0].data, std::vector<float>(good.params.size(), 0.0f));
  EXPECT_NO_THROW(trainer.restore(good));
  TrainerState other = good;
  other.optimizer = "adam";
  EXPECT_NE(input_error([&] { trainer.restore(other); }).find("optimizer adam"), std::string::npos);
  TrainerState renamed = good;
  renamed.slots[0].name = "momentum_buffer";
  EXPECT_NE(input_error([&] { trainer.restore(renamed); }).find("no velocity"), std::string::npos);
  TrainerState short_slot = good;
  short_slot.slots[0].data.pop_back();
  EXPECT_THROW(trainer.restore(short_slot), InputError);
}

// Slices flagged as not trained (running statistics) keep their values and momentum;
// the others step as usual. Both backends: CudaParity.SgdWithWeightDecayAndNesterov.
TEST(Optimizer, SgdLeavesStateThatIsNotTrainedAlone) {
  auto cpu = make_cpu_backend();
  const int T = 2;
  // Two slices of 2 floats per lane: [trained | not trained].
  const std::vector<ParamSlice> slices = {{0, 4, 0, 0}, {4, 4, 0, kSliceNotTrained}};
  std::vector<float> p = {1, 1, 1, 1, 5, 6, 7, 8}, v(8, 0.5f);
  const std::vector<float> g(8, 1.0f), lr = {0.1f, 0.1f}, mu = {0.9f, 0.9f};
  std::vector<LaneState> state(T, LaneState::Training);
  const LaneArrays lanes{lr.data(), mu.data(), nullptr, nullptr, state.data()};
  cpu->sgd_momentum({slices.data(), 2, T, p.size()}, lanes, p.data(), g.data(), v.data(), nullptr);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(v[i], 0.9f * 0.5f + 1.0f) << i;
    EXPECT_FLOAT_EQ(p[i], 1.0f - 0.1f * v[i]) << i;
  }
  EXPECT_EQ(std::vector<float>(p.begin() + 4, p.end()), (std::vector<float>{5, 6, 7, 8}));
  EXPECT_EQ(std::vector<float>(v.begin() + 4, v.end()), std::vector<float>(4, 0.5f));
}

// 100 steps on f(p) = sum(a * (p - c)^2), gradient 2a(p - c) in float, against torch
// 1.13 on the CPU:
//   p = Parameter([1, 2, -3, 0.5]); opt = Adam([p], lr=0.05, betas=(0.8, 0.99),
//   eps=1e-6, weight_decay=0.01) (and AdamW); 100 x {p.grad = (2a) * (p - c); opt.step()}
// with a = [1, 0.5, 2, 0.1], c = [0.3, -1, 2, 5]. 1e-5 relative: the bound, as
// the float operations may be fused differently.
TEST(Optimizer, AdamAndAdamWFollowPyTorch) {
  const struct {
    bool decoupled;
    std::vector<double> want;
  } cases[] = {
      {false, {0.2985195815563202, -0.868259608745575, 0.8096160888671875, 4.063358783721924}},
      {true, {0.2996392846107483, -0.871483325958252, 0.833351194858551, 4.070958137512207}}};
  const std::vector<float> a = {1.0f, 0.5f, 2.0f, 0.1f}, c = {0.3f, -1.0f, 2.0f, 5.0f};
  auto cpu = make_cpu_backend();
  for (const auto& k : cases) {
    std::vector<float> p = {1.0f, 2.0f, -3.0f, 0.5f}, m(4, 0.0f), v(4, 0.0f), g(4);
    const std::vector<float> lr = {0.05f}, wd = {0.01f}, betas = {0.8f, 0.99f, 1e-6f};
    std::vector<LaneState> state = {LaneState::Training};
    LaneArrays lanes{lr.data(), nullptr, nullptr, nullptr, state.data()};
    lanes.weight_decay = wd.data();
    lanes.adam = betas.data();
    const std::vector<ParamSlice> slices = {{0, 4, 0, 0}};
    int64_t counters[kCounterCount] = {0, 0};
    for (int step = 0; step < 100; ++step) {
      for (int i = 0; i < 4; ++i) g[i] = (2.0f * a[i]) * (p[i] - c[i]);
      cpu->adam_update({slices.data(), 1, 1, 4, k.decoupled}, lanes, p.data(), g.data(), m.data(),
                       v.data(), counters);
    }
    EXPECT_EQ(counters[kCounterGlobalStep], 100);
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(p[i], k.want[i], 1e-5 * std::abs(k.want[i]))
          << (k.decoupled ? "adamw " : "adam ") << i;
  }
}

// Biases take no weight decay, frozen lanes and state that is not trained no update.
TEST(Optimizer, AdamSkipsWhatSgdSkips) {
  auto cpu = make_cpu_backend();
  const int T = 2;
  const std::vector<ParamSlice> slices = {
      {0, 4, 0, 0}, {4, 4, 0, kSliceIsBias}, {8, 4, 0, kSliceNotTrained}};
  std::vector<float> p(12, 1.0f), m(12, 0.0f), v(12, 0.0f);
  const std::vector<float> g(12, 0.0f), lr = {0.1f, 0.1f}, wd = {0.5f, 0.5f},
                                        betas = {0.9f, 0.999f, 1e-8f, 0.9f, 0.999f, 1e-8f};
  std::vector<LaneState> state = {LaneState::Training, LaneState::Diverged};
  LaneArrays lanes{lr.data(), nullptr, nullptr, nullptr, state.data()};
  lanes.weight_decay = wd.data();
  lanes.adam = betas.data();
  int64_t counters[kCounterCount] = {0, 0};
  cpu->adam_update({slices.data(), 3, T, 12, true}, lanes, p.data(), g.data(), m.data(), v.data(),
                   counters);
  // AdamW with a zero gradient: only the decay moves a weight, p *= 1 - lr * wd.
  EXPECT_FLOAT_EQ(p[0], 1.0f - 0.1f * 0.5f);  // lane 0's weights
  EXPECT_FLOAT_EQ(p[1], 1.0f - 0.1f * 0.5f);
  EXPECT_EQ(p[2], 1.0f);  // lane 1: diverged
  EXPECT_EQ(p[4], 1.0f);  // lane 0's bias: no decay
  EXPECT_EQ(p[8], 1.0f);  // not trained
}

// An AdamW pack stopped at an epoch boundary and restored into a fresh trainer goes on
// bit for bit: the moments are in the saved state and the update's number is the
// global step.
TEST(Optimizer, AdamWPackResumesBitForBit) {
  auto cpu = make_cpu_backend();
  DeviceData dd(*cpu, usps_head(120, 30, 30));
  LaneSettings a{0.003f, 0.9f, 0.2f, 1}, b{0.001f, 0.9f, 0.0f, 2};
  a.weight_decay = 0.05f;
  b.beta1 = 0.8f;
  b.eps = 1e-6f;
  TrainerOptions opt{32};
  opt.optimizer = OptimizerKind::AdamW;
  Trainer whole(*cpu, dd, model_preset("cnn"), {a, b}, opt);
  Trainer first(*cpu, dd, model_preset("cnn"), {a, b}, opt);
  for (int e = 0; e < 3; ++e) whole.train_epoch();
  for (int e = 0; e < 2; ++e) first.train_epoch();
  const TrainerState saved = first.state();
  EXPECT_EQ(saved.optimizer, "adamw");
  ASSERT_EQ(saved.slots.size(), 2u);
  Trainer second(*cpu, dd, model_preset("cnn"), {a, b}, opt);
  second.restore(saved);
  second.train_epoch();
  EXPECT_EQ(second.parameters(), whole.parameters());
  // The two lanes trained apart (their own betas and decay).
  EXPECT_NE(extract_lane(whole.plan(), whole.parameters(), 0),
            extract_lane(whole.plan(), whole.parameters(), 1));
  // SGD's state does not fit an Adam pack.
  Trainer sgd(*cpu, dd, model_preset("cnn"), {a, b}, TrainerOptions{32});
  EXPECT_THROW(sgd.restore(saved), InputError);
}

}  // namespace
}  // namespace sgdlab::test
