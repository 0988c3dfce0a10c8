// Training-level checks on the GPU: packs against single runs, repeatability, graphs
// against eager steps, concurrent streams, and a long run against the CPU. Skipped where
// no GPU is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "sgdlab/core/buffer.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "sgdlab/engine/tta.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/storage.hpp"
#include "sgdlab/search/sweep.hpp"
#include "tests/cuda_test_util.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

class CudaTraining : public CudaParity {
 protected:
  static const UspsData& data() {
    static const UspsData d = load_usps({real_data_dir()});
    return d;
  }
  // 470 training samples: 14 steps of 32 and a shorter 15th, quick to compare.
  static const UspsData& small_data() {
    static const UspsData d = usps_head(470, 200, 200);
    return d;
  }
};

// Lane t's parameters, every slice in plan order.
std::vector<float> lane_parameters(const Trainer& trainer, int lane) {
  const auto flat = trainer.parameters();
  std::vector<float> out;
  for (const ParamSlice& s : trainer.plan().raw_slices()) {
    const size_t per_lane = s.count / size_t(trainer.lanes());
    const auto first = flat.begin() + std::ptrdiff_t(s.offset + lane * per_lane);
    out.insert(out.end(), first, first + std::ptrdiff_t(per_lane));
  }
  return out;
}

// What a pack and its lanes run alone should agree on. cuBLAS and cuDNN may choose other
// kernels for 3 lanes than for 1, which sum the same products in another order: an FP32
// sum of K terms in another order differs by about sqrt(K) * 2^-24 relative (K <= 1,152
// here: under 3e-6), and 15 steps of SGD compound that by at most about ten times. So
// losses and weights agree to 1e-4 relative; a lane that read another lane's data or
// parameters would be off by order 1. Accuracies are not compared: one prediction that
// flips moves them by 1/200.
void expect_pack_equals_singles(Backend& gpu, const DeviceData& dd, const char* model,
                                const std::vector<LaneSettings>& lanes) {
  Trainer pack(gpu, dd, model_preset(model), lanes, {32});
  const auto rows = pack.train_epoch();
  for (int t = 0; t < int(lanes.size()); ++t) {
    Trainer single(gpu, dd, model_preset(model), {lanes[t]}, {32});
    const auto s = single.train_epoch()[0];
    const std::string what = std::string(model) + " lane " + std::to_string(t);
    EXPECT_NEAR(rows[t].train_loss, s.train_loss, 1e-4 * std::max(1.0, s.train_loss)) << what;
    EXPECT_NEAR(rows[t].val_loss, s.val_loss, 1e-4 * std::max(1.0, s.val_loss)) << what;
    EXPECT_NEAR(rows[t].grad_l2, s.grad_l2, 1e-4 * std::max(1.0, s.grad_l2)) << what;
    SCOPED_TRACE(what);
    expect_rel({lane_parameters(pack, t)}, {lane_parameters(single, 0)}, 1e-4);
  }
}

TEST_F(CudaTraining, Local2dWithSharedWeightsEqualsCudnnConvolution) {
  const ConvDims d{9, 3, 8, 14, 14, 16, 3, 2, 0};
  const int L = d.L(), P = d.patch();
  const auto x = random_floats(size_t(d.B) * d.T * d.Cin * d.H * d.W, 19),
             w = random_floats(size_t(d.T) * d.Cout * P, 20),
             b = random_floats(size_t(d.T) * d.Cout, 21);
  std::vector<float> lw, lb;
  for (int t = 0; t < d.T; ++t)
    for (int l = 0; l < L; ++l) {
      lw.insert(lw.end(), w.begin() + size_t(t) * d.Cout * P,
                w.begin() + size_t(t + 1) * d.Cout * P);
      lb.insert(lb.end(), b.begin() + size_t(t) * d.Cout, b.begin() + size_t(t + 1) * d.Cout);
    }
  auto X = up(*gpu_, x), W = up(*gpu_, w), Bv = up(*gpu_, b), LW = up(*gpu_, lw),
       LB = up(*gpu_, lb);
  Buffer<float> yc(*gpu_, size_t(d.B) * d.T * d.Cout * L),
      yl(*gpu_, size_t(d.B) * d.T * d.Cout * L);
  gpu_->conv2d_forward(d, X.get(), W.get(), Bv.get(), yc.get());
  gpu_->local2d_forward(d, X.get(), LW.get(), LB.get(), yl.get());
  expect_rel({yl.download()}, {yc.download()});
}

TEST_F(CudaTraining, PackOfThreeEqualsThreeSingleRuns) {
  DeviceData dd(*gpu_, small_data());
  const std::vector<LaneSettings> lanes = {
      {0.02f, 0.9f, 0.3f, 11}, {0.05f, 0.5f, 0.0f, 22}, {0.005f, 0.95f, 0.6f, 33}};
  for (const char* m : {"mlp", "cnn", "lcnn"}) expect_pack_equals_singles(*gpu_, dd, m, lanes);
}

TEST_F(CudaTraining, SeededCnnRunTwiceGivesIdenticalMetricsAndGraphsEqualEager) {
  DeviceData dd(*gpu_, data());
  auto run = [&](Capture capture) {
    Trainer t(*gpu_, dd, model_preset("cnn"), {{0.01f, 0.9f, 0.3f, 1}, {0.02f, 0.8f, 0.5f, 2}},
              {32, 512, capture});
    std::vector<double> out;
    for (int e = 0; e < 2; ++e)
      for (const auto& r : t.train_epoch())
        out.insert(out.end(), {r.train_loss, r.val_loss, r.val_acc, r.grad_l2});
    return out;
  };
  const auto a = run(Capture::Step);
  EXPECT_EQ(a, run(Capture::Step));   // bit for bit
  EXPECT_EQ(a, run(Capture::None));   // the captured graph does what the eager step does
  EXPECT_EQ(a, run(Capture::Epoch));  // and so does one graph of the whole epoch
}

// The fused stages on the GPU compute what the layers do one by one.
TEST_F(CudaTraining, FusedStagesEqualLayerByLayer) {
  DeviceData dd(*gpu_, data());
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    auto run = [&](bool fuse) {
      TrainerOptions o;
      o.fuse = fuse;
      Trainer t(*gpu_, dd, model_preset(m), {{0.02f, 0.9f, 0.4f, 5}, {0.05f, 0.6f, 0.2f, 6}}, o);
      const auto rows = t.train_epoch();
      return std::vector<double>{rows[0].train_loss, rows[0].val_loss, rows[1].train_loss,
                                 rows[1].grad_l2};
    };
    EXPECT_EQ(run(true), run(false)) << m;
  }
}

// The lane-GEMM kernel sums each lane in a fixed order: a run repeats bit for bit. A
// pack equals its lanes run alone within the tolerance above (cuBLAS may still pick
// other GEMM kernels for the dense layers at another lane count).
TEST_F(CudaTraining, LaneGemmPackRepeatsAndEqualsSingleRuns) {
  auto gpu = make_cuda_backend({false, false, ConvKernel::LaneGemm});
  DeviceData dd(*gpu, small_data());
  const std::vector<LaneSettings> lanes = {{0.01f, 0.9f, 0.3f, 1}, {0.03f, 0.7f, 0.5f, 2}};
  auto run = [&] {
    Trainer t(*gpu, dd, model_preset("cnn"), lanes, {32});
    t.train_epoch();
    t.train_epoch();
    return t.parameters();
  };
  EXPECT_EQ(run(), run());
  expect_pack_equals_singles(*gpu, dd, "cnn", lanes);
}

// Packs on three streams at once, of two batch sizes (so they end at different times):
// one pack's setup and teardown never fall inside another's capture, and every trial
// finishes.
TEST_F(CudaTraining, SweepOnThreeStreamsFinishesEveryTrial) {
  TempDir dir;
  DeviceData dd(*gpu_, small_data());
  StudyStorage storage(dir / "s.db");
  const SearchSpace space = SearchSpace::from_json(
      nlohmann::json::parse(R"({"batch": {"type": "categorical", "choices": [16, 64]}})"), "test");
  const int64_t id = storage.open_study({"streams", "cnn", "random", 5, 2, space.to_json()});
  auto sampler = make_random_sampler(5);
  SweepOptions o;
  o.model = "cnn";
  o.trials = 12;
  o.epochs = 2;
  o.pack_lanes = 2;
  o.streams = 3;
  o.wave = 12;
  const SweepResult r = run_sweep(storage, id, space, *sampler, o, backends_of(Device::Cuda), dd);
  EXPECT_EQ(r.done, 12);
  for (const Trial& t : storage.trials(id)) EXPECT_EQ(t.state, TrialState::Complete) << t.number;
}

// A model file with every layer type (conv2d with stride and pad, local2d, max-pool,
// avg-pool, global-avg-pool, batchnorm over planes and over features, relu, sigmoid, tanh,
// dropout, dense) trains on the GPU as on the CPU:
// one epoch of two lanes, losses and weights within the FP32-order tolerance above.
TEST_F(CudaTraining, ModelFileWithEveryLayerTypeMatchesTheCpu) {
  const ModelSpec spec = model_from_json(nlohmann::json::parse(R"({
      "name": "every-layer", "input": [1, 16, 16], "classes": 10, "layers": [
        {"type": "conv2d", "out": 6, "kernel": 3, "pad": 1}, {"type": "batchnorm"},
        {"type": "relu"}, {"type": "max-pool", "kernel": 2},
        {"type": "local2d", "out": 4, "kernel": 3}, {"type": "sigmoid"},
        {"type": "conv2d", "out": 8, "kernel": 3, "stride": 2, "pad": 1}, {"type": "tanh"},
        {"type": "avg-pool", "kernel": 2, "stride": 1}, {"type": "dropout"},
        {"type": "conv2d", "out": 12, "kernel": 1}, {"type": "global-avg-pool"},
        {"type": "dense", "out": 32}, {"type": "batchnorm", "momentum": 0.2}, {"type": "relu"},
        {"type": "dense", "out": 10}]})"),
                                         "every-layer");
  auto run = [&](Backend& be) {
    DeviceData dd(be, small_data());
    Trainer t(be, dd, spec, {{0.05f, 0.9f, 0.3f, 3}, {0.02f, 0.5f, 0.1f, 4}}, {32});
    const auto rows = t.train_epoch();
    return std::make_tuple(rows[0].train_loss, rows[1].val_loss, lane_parameters(t, 0),
                           lane_parameters(t, 1));
  };
  const auto g = run(*gpu_), c = run(*cpu_);
  EXPECT_NEAR(std::get<0>(g), std::get<0>(c), 1e-4 * std::max(1.0, std::get<0>(c)));
  EXPECT_NEAR(std::get<1>(g), std::get<1>(c), 1e-4 * std::max(1.0, std::get<1>(c)));
  expect_rel({std::get<2>(g), std::get<3>(g)}, {std::get<2>(c), std::get<3>(c)}, 1e-4);
}

// cnn-bn with today's blocks together: AdamW, label smoothing, a moving average (one lane
// with, one without), augmentation and a per-step schedule, one epoch of two lanes on the
// GPU as on the CPU, the averaged weights and the trained ones.
TEST_F(CudaTraining, BatchNormAdamWEmaAndLabelSmoothingMatchTheCpu) {
  const ModelSpec spec = load_model(std::string(SGDLAB_TESTS_DIR) + "/../data/models/cnn-bn.json");
  auto run = [&](Backend& be) {
    DeviceData dd(be, small_data());
    LaneSettings a{0.002f, 0.9f, 0.3f, 3}, b{0.001f, 0.9f, 0.1f, 4};
    a.ema = 0.9f;
    a.label_smoothing = 0.1f;
    a.weight_decay = b.weight_decay = 0.01f;
    a.augment = b.augment = {1.0f, 10.0f, 0.1f};
    a.schedule.kind = b.schedule.kind = Schedule::CosinePerStep;
    a.schedule.epochs = b.schedule.epochs = 2;
    TrainerOptions options{32};
    options.optimizer = OptimizerKind::AdamW;
    Trainer t(be, dd, spec, {a, b}, options);
    const auto rows = t.train_epoch();
    return std::make_tuple(rows[0].train_loss, rows[0].val_loss, rows[0].raw_val_loss,
                           t.evaluated_parameters(), lane_parameters(t, 1));
  };
  const auto g = run(*gpu_), c = run(*cpu_);
  EXPECT_NEAR(std::get<0>(g), std::get<0>(c), 1e-4 * std::max(1.0, std::get<0>(c)));
  EXPECT_NEAR(std::get<1>(g), std::get<1>(c), 1e-4 * std::max(1.0, std::get<1>(c)));
  EXPECT_NEAR(std::get<2>(g), std::get<2>(c), 1e-4 * std::max(1.0, std::get<2>(c)));
  expect_rel({std::get<3>(g), std::get<4>(g)}, {std::get<3>(c), std::get<4>(c)}, 1e-4);
}

// A model checkpoint written from a CPU run serves on the GPU and one from a GPU run on
// the CPU: the loaded network's test probabilities agree across the two devices.
TEST_F(CudaTraining, CheckpointsMoveBetweenCpuAndGpu) {
  TempDir dir;
  for (Backend* trained_on : {cpu_.get(), gpu_.get()}) {
    const ModelSpec spec = model_preset("cnn");
    const std::string path = dir / "m.safetensors";
    {
      DeviceData dd(*trained_on, small_data());
      Trainer t(*trained_on, dd, spec, {{0.02f, 0.9f, 0.3f, 5}}, {32});
      t.train_epoch();
      save_model_checkpoint(path, {spec, t.parameters(), {{"seed", "5"}}, 1, {}, "usps"});
    }
    const ModelCheckpoint c = load_model_checkpoint(path);
    auto probs = [&](Backend& be) {
      DeviceData dd(be, small_data());
      Trainer t(be, dd, c.model, {LaneSettings{}}, {32});
      t.set_parameters(c.params);
      return t.probabilities(Split::Test);
    };
    SCOPED_TRACE(trained_on == cpu_.get() ? "trained on the CPU" : "trained on the GPU");
    expect_rel({probs(*gpu_)}, {probs(*cpu_)}, 1e-5);
  }
}

// Test-time shifts on the GPU as on the CPU: the same views, the same averaged
// probabilities of a CNN with random weights.
TEST_F(CudaTraining, TestTimeShiftsMatchTheCpu) {
  const ModelSpec spec = model_preset("cnn");
  const std::vector<float> params =
      random_floats(NetworkPlan(spec, 1).param_count(), 3, -0.2f, 0.2f);
  expect_rel({tta_probabilities(*gpu_, spec, params, small_data().test, 1)},
             {tta_probabilities(*cpu_, spec, params, small_data().test, 1)}, 1e-5);
}

// The options beyond the paper on the GPU as on the CPU: a cosine schedule with
// warm-up, weight decay, Nesterov and augmentation, two epochs of a CNN pack.
TEST_F(CudaTraining, BeyondThePaperOptionsMatchTheCpu) {
  LaneSettings a{0.03f, 0.9f, 0.3f, 21};
  a.weight_decay = 5e-4f;
  a.nesterov = true;
  a.schedule = parse_schedule("cosine", 1, 2);
  a.augment = {2, 10, 0.1f};
  LaneSettings b = a;
  b.seed = 22;
  b.schedule = parse_schedule("step:1:0.5", 0, 2);
  b.augment = {};
  auto run = [&](Backend& be) {
    DeviceData dd(be, small_data());
    Trainer t(be, dd, model_preset("cnn"), {a, b}, {32});
    std::vector<double> losses;
    for (int e = 0; e < 2; ++e)
      for (const auto& r : t.train_epoch()) losses.insert(losses.end(), {r.train_loss, r.lr});
    return std::make_pair(losses, t.parameters());
  };
  const auto g = run(*gpu_), c = run(*cpu_);
  for (size_t i = 0; i < c.first.size(); ++i)
    EXPECT_NEAR(g.first[i], c.first[i], 1e-4 * std::max(1.0, c.first[i])) << i;
  expect_rel({g.second}, {c.second}, 1e-4);
}

// GPU and CPU runs differ in summation order only, and 20 epochs of SGD decorrelate the
// two trajectories as a change of seed would: the seed-to-seed spread alone gives one
// GPU-CPU difference a standard deviation of about 0.2 points, so the fixed bound of 0.3
// points this test had failed about one correct GPU in ten. Five seeds on each device are
// compared as two samples instead: a GPU that trains as the CPU does gives means within
// 4 pooled standard errors (Student's t with 8 degrees of freedom: |t| > 4 about one run
// in 250); a GPU that trains wrongly moves its mean far beyond that noise (4 standard
// errors are about 0.5 points here).
TEST_F(CudaTraining, CnnTwentyEpochsMatchesTheCpuWithinTheSeedSpread) {
  std::vector<LaneSettings> lanes;
  for (uint64_t seed = 1; seed <= 5; ++seed) lanes.push_back({0.01f, 0.9f, 0.3f, seed});
  auto run = [&](Backend& be) {
    DeviceData dd(be, data());
    Trainer t(be, dd, model_preset("cnn"), lanes, {32});
    for (int e = 0; e < 20; ++e) t.train_epoch();
    std::vector<double> acc;
    for (const auto& row : t.evaluate(Split::Test)) acc.push_back(row.acc);
    return acc;
  };
  const std::vector<double> gpu = run(*gpu_), cpu = run(*cpu_);
  for (size_t s = 0; s < lanes.size(); ++s)
    std::cout << "CNN 20 epochs, seed " << lanes[s].seed << ": test accuracy GPU " << 100 * gpu[s]
              << "%, CPU " << 100 * cpu[s] << "%\n";
  const double n = double(lanes.size());
  const double pooled_sd =
      std::sqrt((sample_std(gpu) * sample_std(gpu) + sample_std(cpu) * sample_std(cpu)) / 2);
  // One test image (of 2,007) is the finest difference accuracy can show.
  const double standard_error = std::max(pooled_sd * std::sqrt(2 / n), 1.0 / 2007);
  std::cout << "means: GPU " << 100 * mean(gpu) << "%, CPU " << 100 * mean(cpu)
            << "%; pooled standard error of the difference " << 100 * standard_error << "\n";
  EXPECT_LE(std::abs(mean(gpu) - mean(cpu)), 4 * standard_error);
  EXPECT_GT(*std::min_element(gpu.begin(), gpu.end()), 0.9);  // every GPU lane learned
}

}  // namespace
}  // namespace sgdlab::test
