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
  for (OptimizerKind k : {OptimizerKind::Sgd}) {
    const Optimizer& o = optimizer(k);
    EXPECT_EQ(o.kind(), k);
    EXPECT_EQ(&optimizer_named(o.name(), "test"), &o);
    ASSERT_FALSE(o.slots().empty()) << o.name();
    const std::set<std::string> names(o.slots().begin(), o.slots().end());
    EXPECT_EQ(names.size(), o.slots().size()) << o.name();
    EXPECT_FALSE(names.count("params")) << o.name();
  }
  EXPECT_EQ(std::vector<std::string>{"velocity"}, optimizer(OptimizerKind::Sgd).slots());
  EXPECT_NE(input_error([] { optimizer_named("adamw", "ckpt"); }).find("ckpt: unknown optimizer"),
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
  cpu->sgd_momentum(slices.data(), 2, T, p.size(), lanes, p.data(), g.data(), v.data(), nullptr);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(v[i], 0.9f * 0.5f + 1.0f) << i;
    EXPECT_FLOAT_EQ(p[i], 1.0f - 0.1f * v[i]) << i;
  }
  EXPECT_EQ(std::vector<float>(p.begin() + 4, p.end()), (std::vector<float>{5, 6, 7, 8}));
  EXPECT_EQ(std::vector<float>(v.begin() + 4, v.end()), std::vector<float>(4, 0.5f));
}

}  // namespace
}  // namespace sgdlab::test
