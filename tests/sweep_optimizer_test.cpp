// The optimizer and the architecture as search parameters: a sweep draws SGD, Adam and AdamW (with
// their betas), packs the trials of one optimizer together, and each trial trains exactly as it
// does alone with that optimizer.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sgdlab/engine/model.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/space.hpp"
#include "sgdlab/search/storage.hpp"
#include "sgdlab/search/sweep.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// Options of a sweep that asks all its trials in one wave and packs each shape whole.
SweepOptions one_wave(const std::string& model, int trials) {
  SweepOptions o;
  o.model = model;
  o.trials = trials;
  o.epochs = 1;
  o.pack_lanes = trials;
  o.streams = 1;
  o.wave = trials;
  return o;
}

TEST(SweepOptimizer, EachTrialTrainsAsAloneWithItsOptimizer) {
  TempDir dir;
  auto backend = make_cpu_backend();
  DeviceData device_data(*backend, usps_head(300, 100, 100));
  const SearchSpace space = SearchSpace::from_json(
      nlohmann::json::parse(R"({"lr": {"type": "log_uniform", "low": 1e-3, "high": 3e-2},
        "batch": {"type": "categorical", "choices": [32]},
        "optimizer": {"type": "categorical", "choices": [0, 1, 2]},
        "beta1": {"type": "uniform", "low": 0.8, "high": 0.95},
        "nesterov": {"type": "categorical", "choices": [0, 1]}})"),
      "space");
  StudyStorage storage(dir / "s.db");
  const int64_t id = storage.open_study({"opt", "mlp", "random", 0, 1, space.to_json()});
  const SweepOptions o = one_wave("mlp", 9);
  auto sampler = make_random_sampler(4);
  const BackendFactory cpu = [] { return make_cpu_backend(); };
  const SweepResult r = run_sweep(storage, id, space, *sampler, o, cpu, device_data);
  EXPECT_EQ(r.done, 9);
  std::set<OptimizerKind> kinds;
  std::map<OptimizerKind, int> lanes_of;
  for (const Trial& t : storage.trials(id)) {
    ASSERT_EQ(t.state, TrialState::Complete) << t.number;
    const OptimizerKind kind = optimizer_of(t.params);
    kinds.insert(kind);
    ++lanes_of[kind];
    TrainerOptions options{32};
    options.optimizer = kind;
    const LaneSettings lane =
        lane_settings(t.params, trial_seed(o.seed, t.number), o.epochs, device_data.image());
    if (kind != OptimizerKind::Sgd) {
      EXPECT_FALSE(lane.nesterov);  // SGD's alone
    }
    Trainer alone(*backend, device_data, model_preset("mlp"), {lane}, options);
    EXPECT_EQ(*t.value, alone.train_epoch()[0].val_acc) << t.number;
  }
  EXPECT_EQ(kinds.size(), 3u);  // the draw covered all three (else the test shows little)
  // One pack per optimizer: a trial's pack holds exactly the trials of its optimizer.
  for (const Trial& t : storage.trials(id))
    EXPECT_EQ(t.attrs.at("pack_lanes"), std::to_string(lanes_of[optimizer_of(t.params)]))
        << t.number;
  EXPECT_NE(training_refusal("optimizer", 3).find("0 (sgd), 1 (adam) or 2 (adamw)"),
            std::string::npos);
}

// Architectures as a search parameter: a sweep over two models packs each model's
// trials apart, and each trial trains exactly as it does alone on its model.
TEST(SweepArchitecture, EachTrialTrainsAsAloneOnItsModel) {
  TempDir dir;
  auto backend = make_cpu_backend();
  DeviceData device_data(*backend, usps_head(300, 100, 100));
  const SearchSpace space = SearchSpace::from_json(
      nlohmann::json::parse(R"({"lr": {"type": "log_uniform", "low": 1e-3, "high": 3e-2},
        "batch": {"type": "categorical", "choices": [32]},
        "architecture": {"type": "categorical", "choices": [0, 1]}})"),
      "space");
  const std::string models = "mlp," + std::string(SGDLAB_TESTS_DIR) + "/../data/models/cnn-bn.json";
  ASSERT_EQ(architectures(models).size(), 2u);
  StudyStorage storage(dir / "s.db");
  const int64_t id = storage.open_study({"arch", models, "random", 0, 1, space.to_json()});
  const SweepOptions o = one_wave(models, 6);
  auto sampler = make_random_sampler(2);
  const BackendFactory cpu = [] { return make_cpu_backend(); };
  const SweepResult r = run_sweep(storage, id, space, *sampler, o, cpu, device_data);
  EXPECT_EQ(r.done, 6);
  std::map<int, int> lanes_of;
  for (const Trial& t : storage.trials(id)) ++lanes_of[architecture_of(t.params)];
  ASSERT_EQ(lanes_of.size(), 2u);  // the draw covered both (else the test shows little)
  for (const Trial& t : storage.trials(id)) {
    ASSERT_EQ(t.state, TrialState::Complete) << t.number;
    const int a = architecture_of(t.params);
    const LaneSettings lane =
        lane_settings(t.params, trial_seed(o.seed, t.number), o.epochs, device_data.image());
    Trainer alone(*backend, device_data, load_model(architectures(models)[size_t(a)]), {lane},
                  TrainerOptions{32});
    EXPECT_EQ(*t.value, alone.train_epoch()[0].val_acc) << t.number;
    EXPECT_EQ(t.attrs.at("pack_lanes"), std::to_string(lanes_of[a])) << t.number;
  }
}

// A list of models needs a space that can choose among them, by indices within the list.
TEST(SweepArchitecture, ASpaceThatCannotChooseIsRefusedBeforeAnyTrial) {
  TempDir dir;
  auto backend = make_cpu_backend();
  DeviceData device_data(*backend, usps_head(100, 50, 50));
  StudyStorage storage(dir / "s.db");
  SweepOptions o;
  o.model = "mlp,cnn";
  o.trials = 2;
  o.epochs = 1;
  o = resolve_defaults(o, Device::Cpu, "random");
  auto sampler = make_random_sampler(2);
  const BackendFactory cpu = [] { return make_cpu_backend(); };
  const SearchSpace plain = SearchSpace::study_default();
  const int64_t id = storage.open_study({"a", o.model, "random", 0, 1, plain.to_json()});
  EXPECT_NE(input_error([&] {
              run_sweep(storage, id, plain, *sampler, o, cpu, device_data);
            }).find("2 models need the space's categorical 'architecture'"),
            std::string::npos);
  const SearchSpace wide = SearchSpace::from_json(
      nlohmann::json::parse(R"({"architecture": {"type": "categorical", "choices": [0, 2]}})"),
      "space");
  EXPECT_NE(input_error([&] {
              run_sweep(storage, id, wide, *sampler, o, cpu, device_data);
            }).find("architecture: expected a categorical of indices below 2"),
            std::string::npos);
  EXPECT_TRUE(storage.trials(id).empty());
  EXPECT_NE(input_error([] { architectures("mlp,,cnn"); }).find("an empty name"),
            std::string::npos);
}

}  // namespace
}  // namespace sgdlab::test
