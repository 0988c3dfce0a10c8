// Search objectives (search/objective.hpp) and the distorted validation set they read
// (engine/distort.hpp); the independent augmentation and Nesterov parameters of a space.
#include <gtest/gtest.h>

#include <set>

#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/distort.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "sgdlab/search/objective.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/space.hpp"
#include "sgdlab/search/storage.hpp"
#include "sgdlab/search/sweep.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// n random images of C x 4 x 5, labels 0..n-1.
Dataset random_images(int n, int C, uint64_t seed) {
  Dataset d;
  d.image = {C, 4, 5};
  d.features = C * 20;
  d.x = random_floats(size_t(n) * d.features, seed, 0, 1);
  for (int i = 0; i < n; ++i) d.y.push_back(i);
  return d;
}

TEST(Distort, ZeroWidthsCopyTheImagesExactlyWithTheirLabels) {
  const Dataset d = random_images(3, 1, 1);
  Distortion none;
  none.copies = 2;
  const Dataset out = distorted_copies(d, none, 0.0f);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out.features, d.features);
  for (int c = 0; c < 2; ++c)
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(out.y[c * 3 + i], d.y[i]);
      EXPECT_TRUE(std::equal(d.x.begin() + i * 20, d.x.begin() + (i + 1) * 20,
                             out.x.begin() + (c * 3 + i) * 20))
          << "copy " << c << " image " << i;
    }
}

// Copy c of image i is the image under the transform augmentation draws at step c.
TEST(Distort, EachCopyIsItsImageUnderTheDrawnTransform) {
  const Dataset d = random_images(4, 1, 2);
  Distortion how;
  how.copies = 3;
  how.widths = {1.5f, 12.0f, 0.1f};
  const float background = -0.25f;
  const Dataset out = distorted_copies(d, how, background);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i) {
      const Affine A =
          augment_transform(how.seed, uint64_t(c), uint32_t(i), 1.5f, 12.0f, 0.1f, 4, 5);
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x)
          ASSERT_EQ(out.x[(size_t(c) * 4 + i) * 20 + y * 5 + x],
                    augment_pixel(d.x.data() + i * 20, 4, 5, A, y, x, background))
              << "copy " << c << " image " << i << " pixel " << y << "," << x;
    }
  // The copies differ from each other and from the images, and the set is the same
  // every time it is made; another seed gives another set.
  EXPECT_NE(std::vector<float>(out.x.begin(), out.x.begin() + 80), d.x);
  EXPECT_NE(std::vector<float>(out.x.begin(), out.x.begin() + 80),
            std::vector<float>(out.x.begin() + 80, out.x.begin() + 160));
  EXPECT_EQ(distorted_copies(d, how, background).x, out.x);
  Distortion other = how;
  other.seed += 1;
  EXPECT_NE(distorted_copies(d, other, background).x, out.x);
}

// Every channel of an image moves with it: with background 0 the transform is linear,
// so a channel twice another stays twice it.
TEST(Distort, TheChannelsOfAnImageShareItsTransform) {
  Dataset d = random_images(2, 2, 3);
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 20; ++p) d.x[i * 40 + 20 + p] = 2 * d.x[i * 40 + p];
  Distortion how;
  how.copies = 2;
  how.widths = {1, 10, 0.1f};
  const Dataset out = distorted_copies(d, how, 0.0f);
  for (size_t i = 0; i < 4; ++i)
    for (int p = 0; p < 20; ++p)
      EXPECT_FLOAT_EQ(out.x[i * 40 + 20 + p], 2 * out.x[i * 40 + p]) << i << " " << p;
}

TEST(Distort, TheRobustDistortionScalesTheShiftWithTheImage) {
  const Distortion usps = robust_validation_distortion({1, 16, 16});
  EXPECT_EQ(usps.copies, 8);
  EXPECT_FLOAT_EQ(usps.widths.shift, 2.0f);
  EXPECT_FLOAT_EQ(usps.widths.rotate, 15.0f);
  EXPECT_FLOAT_EQ(usps.widths.scale, 0.15f);
  EXPECT_FLOAT_EQ(robust_validation_distortion({3, 32, 24}).widths.shift, 4.0f);
}

const UspsData& small_data() {
  static const UspsData d = usps_head(300, 100, 100);
  return d;
}

// Undistorted copies evaluate exactly as the validation set; without a distortion the
// split is an internal error, not a silent empty set.
TEST(Distort, TheTrainerEvaluatesTheDistortedSplit) {
  auto cpu = make_cpu_backend();
  Distortion twice;
  twice.copies = 2;
  const DeviceData dd(*cpu, small_data(), twice);
  ASSERT_TRUE(dd.has_distorted_val());
  EXPECT_EQ(dd.part(Split::ValDistorted).n, 2 * small_data().val.size());
  Trainer t(*cpu, dd, model_preset("mlp"), {LaneSettings{0.05f, 0.9f, 0, 1}}, {32});
  t.train_epoch();
  const auto val = t.evaluate(Split::Val);
  const auto copies = t.evaluate(Split::ValDistorted);
  EXPECT_DOUBLE_EQ(copies[0].acc, val[0].acc);
  EXPECT_NEAR(copies[0].loss, val[0].loss, 1e-6 * val[0].loss);

  const DeviceData plain(*cpu, small_data());
  EXPECT_FALSE(plain.has_distorted_val());
  EXPECT_THROW(plain.part(Split::ValDistorted), Error);
}

TEST(Objective, NamesValuesAndText) {
  for (Objective o :
       {Objective::ValAcc, Objective::ValLoss, Objective::DistortedAcc, Objective::DistortedLoss})
    EXPECT_EQ(parse_objective(objective_name(o)), o);
  EXPECT_NE(input_error([] {
              parse_objective("accuracy");
            }).find("expected val_acc, val_loss, distorted_acc or distorted_loss, got 'accuracy'"),
            std::string::npos);
  const EvalStats s{0.25, 0.9};
  EXPECT_EQ(objective_value(Objective::ValAcc, s), 0.9);
  EXPECT_EQ(objective_value(Objective::DistortedLoss, s), -0.25);  // higher is better
  EXPECT_EQ(format_value(Objective::DistortedAcc, 0.98765), "98.77%");
  EXPECT_EQ(format_value(Objective::ValLoss, -0.0123), "loss 0.0123");
  EXPECT_FALSE(needs_distorted_val(Objective::ValLoss));
  EXPECT_TRUE(needs_distorted_val(Objective::DistortedAcc));
}

SweepOptions one_epoch(int trials, Objective objective) {
  SweepOptions o;
  o.model = "mlp";
  o.trials = trials;
  o.epochs = 1;
  o.pack_lanes = 2;
  o.streams = 1;
  o.wave = 2;
  o.objective = objective;
  return o;
}

// Each trial's value is its objective's, beside both validation sets' figures; the
// study keeps its objective and refuses to go on under another.
TEST(Objective, ASweepStoresTheObjectivesValueAndKeepsTheObjective) {
  TempDir dir;
  auto cpu = make_cpu_backend();
  const DeviceData dd(*cpu, small_data(), robust_validation_distortion(small_data().val.image));
  StudyStorage storage(dir / "s.db");
  const SearchSpace space = SearchSpace::from_json(
      {{"lr", {{"type", "log_uniform"}, {"low", 0.01}, {"high", 0.1}}}}, "test");
  const BackendFactory factory = [] { return make_cpu_backend(); };
  const int64_t id = storage.open_study({"loss", "mlp", "random", 0, 1, space.to_json()});
  auto sampler = make_random_sampler(0);
  run_sweep(storage, id, space, *sampler, one_epoch(2, Objective::DistortedLoss), factory, dd);
  EXPECT_EQ(storage.study_attr(id, "objective"), "distorted_loss");
  for (const Trial& t : storage.trials(id)) {
    ASSERT_EQ(t.state, TrialState::Complete);
    ASSERT_TRUE(t.value);
    // The attributes are text of 6 significant digits.
    const double loss = std::stod(t.attrs.at("distorted_loss"));
    EXPECT_NEAR(*t.value, -loss, 1e-5 * loss);
    const double distorted_acc = std::stod(t.attrs.at("distorted_acc"));
    const double val_acc = std::stod(t.attrs.at("val_acc"));
    EXPECT_GT(distorted_acc, 0.1);
    EXPECT_LT(distorted_acc, val_acc) << "distortions make digits harder to read";
    // The per-epoch value is the plain validation loss, negated.
    ASSERT_EQ(t.intermediate.size(), 1u);
    const double val_loss = std::stod(t.attrs.at("val_loss"));
    EXPECT_NEAR(t.intermediate[0], -val_loss, 1e-5 * val_loss);
  }
  const std::string why = input_error([&] {
    run_sweep(storage, id, space, *sampler, one_epoch(4, Objective::ValAcc), factory, dd);
  });
  EXPECT_NE(why.find("searched on --objective distorted_loss, not val_acc"), std::string::npos)
      << why;
  // A study stored before objectives existed (a trial, no attribute) was searched on
  // val_acc.
  const int64_t old = storage.open_study({"old", "mlp", "random", 0, 1, space.to_json()});
  const auto t = storage.ask(
      old, [&](const std::vector<Trial>& h, int n) { return sampler->sample(space, h, n); });
  storage.finish(t.id, TrialState::Complete, 0.5, {});
  EXPECT_FALSE(storage.study_attr(old, "objective"));
  const std::string old_why = input_error([&] {
    run_sweep(storage, old, space, *sampler, one_epoch(2, Objective::DistortedAcc), factory, dd);
  });
  EXPECT_NE(old_why.find("searched on --objective val_acc, not distorted_acc"), std::string::npos)
      << old_why;
}

// The value is the mean of the objective over the last K epochs; the study keeps K.
TEST(Objective, TheMeanOverTheLastEpochs) {
  TempDir dir;
  auto cpu = make_cpu_backend();
  const DeviceData dd(*cpu, small_data());
  StudyStorage storage(dir / "s.db");
  const SearchSpace space = SearchSpace::study_default();
  const BackendFactory factory = [] { return make_cpu_backend(); };
  const int64_t id = storage.open_study({"mean", "mlp", "random", 0, 3, space.to_json()});
  auto sampler = make_random_sampler(1);
  SweepOptions o = one_epoch(2, Objective::ValAcc);
  o.epochs = 3;
  o.objective_epochs = 2;
  run_sweep(storage, id, space, *sampler, o, factory, dd);
  EXPECT_EQ(storage.study_attr(id, "objective"), "val_acc over the last 2 epochs");
  for (const Trial& t : storage.trials(id)) {
    ASSERT_EQ(t.intermediate.size(), 3u);
    ASSERT_TRUE(t.value);
    EXPECT_DOUBLE_EQ(*t.value, (t.intermediate[1] + t.intermediate[2]) / 2);
  }
  o.objective_epochs = 1;
  EXPECT_THROW(run_sweep(storage, id, space, *sampler, o, factory, dd), InputError);
  for (int k : {0, 4}) {
    o.objective_epochs = k;
    EXPECT_NE(input_error([&] {
                resolve_defaults(o, Device::Cpu, "random");
              }).find("--objective-epochs: expected a number of epochs from 1 to --epochs (3)"),
              std::string::npos);
  }
}

TEST(IndependentSpace, ParametersSetTheirOwnPartOfTheLane) {
  const ParamValues p = {{"lr", 0.05},    {"momentum", 0.9},     {"dropout", 0.3}, {"batch", 32},
                         {"shift", 2},    {"rotate", 10},        {"scale", 0.1},   {"nesterov", 1},
                         {"schedule", 1}, {"weight_decay", 5e-4}};
  const LaneSettings s = lane_settings(p, 7, 30, {1, 16, 16});
  EXPECT_FLOAT_EQ(s.augment.shift, 2);
  EXPECT_FLOAT_EQ(s.augment.rotate, 10);
  EXPECT_FLOAT_EQ(s.augment.scale, 0.1f);
  EXPECT_TRUE(s.nesterov);
  EXPECT_EQ(s.schedule.kind, Schedule::Cosine);
  // One part alone leaves the others off; nesterov 0 is plain momentum.
  ParamValues rotate_only = {
      {"lr", 0.05}, {"momentum", 0.9}, {"dropout", 0.3}, {"rotate", 5}, {"nesterov", 0}};
  const LaneSettings r = lane_settings(rotate_only, 7, 30, {1, 16, 16});
  EXPECT_EQ(r.augment.shift, 0);
  EXPECT_FLOAT_EQ(r.augment.rotate, 5);
  EXPECT_EQ(r.augment.scale, 0);
  EXPECT_FALSE(r.nesterov);
  // The shipped space names each of them, and no tied strength.
  const SearchSpace space = SearchSpace::independent_default();
  std::set<std::string> names;
  for (const ParamSpec& q : space.params()) names.insert(q.name);
  for (const char* n : {"shift", "rotate", "scale", "nesterov", "weight_decay", "schedule"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("augment"));
  EXPECT_EQ(SearchSpace::load(std::string(SGDLAB_TESTS_DIR) + "/../data/spaces/independent.json")
                .to_json(),
            space.to_json());
}

// schedule 2 and 3 are the per-step kinds; warmup is whole epochs, left out by onecycle.
TEST(IndependentSpace, PerStepSchedulesAndWarmUp) {
  ParamValues p = {
      {"lr", 0.05}, {"momentum", 0.9}, {"dropout", 0.3}, {"schedule", 2}, {"warmup", 2}};
  LaneSettings s = lane_settings(p, 7, 30, {1, 16, 16});
  EXPECT_EQ(s.schedule.kind, Schedule::CosinePerStep);
  EXPECT_EQ(s.schedule.warmup, 2);
  EXPECT_EQ(s.schedule.epochs, 30);
  p["schedule"] = 3;
  s = lane_settings(p, 7, 30, {1, 16, 16});
  EXPECT_EQ(s.schedule.kind, Schedule::OneCycle);
  EXPECT_EQ(s.schedule.warmup, 0);
  EXPECT_NO_THROW(validate(s));
  p["schedule"] = 0;
  EXPECT_EQ(lane_settings(p, 7, 30, {1, 16, 16}).schedule.warmup, 2);
  EXPECT_EQ(training_refusal("schedule", 3), "");
  EXPECT_NE(training_refusal("schedule", 4), "");
  EXPECT_EQ(training_refusal("warmup", 3), "");
  EXPECT_NE(training_refusal("warmup", 1.5), "");
  EXPECT_NE(training_refusal("warmup", -1), "");
  // The shipped file: the independent space with all four schedules and a warm-up.
  const SearchSpace file =
      SearchSpace::load(std::string(SGDLAB_TESTS_DIR) + "/../data/spaces/schedules.json");
  EXPECT_EQ(file.get("schedule").choices, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(file.get("warmup").choices, (std::vector<double>{0, 1, 2, 3}));
}

TEST(IndependentSpace, TrainingsLimitsAreRefused) {
  EXPECT_NE(training_refusal("nesterov", 2), "");
  EXPECT_EQ(training_refusal("nesterov", 1), "");
  EXPECT_NE(training_refusal("shift", -1), "");
  EXPECT_NE(training_refusal("shift", 65), "");
  EXPECT_NE(training_refusal("rotate", 181), "");
  EXPECT_NE(training_refusal("scale", 0.95), "");
  EXPECT_EQ(training_refusal("scale", 0.2), "");
  EXPECT_THROW(SearchSpace::from_json(
                   {{"nesterov", {{"type", "categorical"}, {"choices", {0, 2}}}}}, "test"),
               InputError);
}

}  // namespace
}  // namespace sgdlab::test
