// sgdlab bench: trial-epochs per second per model and pack size, beside the floors that
// the device's peak arithmetic and bandwidth put on them. Prints figures; it asserts
// nothing about speed. tools/bench_vs_torch.py runs it beside PyTorch.
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <exception>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <thread>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/cost.hpp"
#include "sgdlab/engine/devices.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/optimizer.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab::cli {
namespace {

struct BenchArgs {
  std::string models = "mlp,lcnn,cnn";
  std::string lanes = "auto";
  int batch = 32;
  int epochs = 3;
  int warmup = 1;
  int streams = 1;
  Capture capture = Capture::Step;
  std::string device = "auto";
  BackendOptions gpu;
  double peak_tflops = 0, peak_gbs = 0;
  DataOptions data;
  std::string json;
  std::string optimizer = "sgd";
};

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::vector<int> lane_counts(const std::string& text, Device device) {
  // Packs that fill a GPU; on a CPU a lane costs about as much alone as in a pack.
  const std::string list = text != "auto" ? text : device == Device::Cuda ? "1,8,32,128" : "1,8";
  std::vector<int> out;
  for (double v : parse_list("--lanes", list)) {
    if (v < 1 || v != double(int(v))) SGDLAB_INPUT_ERROR("--lanes: expected whole counts >= 1");
    out.push_back(int(v));
  }
  return out;
}

// "-" where a figure cannot be given.
std::string fixed(double v, int precision) {
  if (!(v > 0)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  return s.str();
}

struct Measured {
  std::vector<double> epoch_seconds;  // of the first pack
  double wall = 0;                    // the timed epochs of every pack together
  double val = 0;                     // lane 0 of the first pack, last epoch
};

// Trains `streams` packs of T lanes at once, each on its own backend (its own stream and
// handles) in its own thread; all warm up, then the timed epochs start together.
Measured measure(const BenchArgs& a, const std::string& model, int T, Backend& main_backend,
                 const DeviceData& data) {
  std::vector<LaneSettings> settings;
  const OptimizerKind kind = optimizer_named(a.optimizer, "--optimizer").kind();
  // Adam's usual rate (PyTorch's default); SGD's as the paper's models train.
  const float lr = kind != OptimizerKind::Sgd ? 0.001f : model == "mlp" ? 0.05f : 0.01f;
  for (int t = 0; t < T; ++t) settings.push_back({lr, 0.9f, 0.3f, uint64_t(t + 1)});
  using clock = std::chrono::steady_clock;
  Measured m;
  clock::time_point start;
  std::barrier warmed(a.streams, [&]() noexcept { start = clock::now(); });
  auto run = [&](Backend& backend, bool first) {
    TrainerOptions options;
    options.batch = a.batch;
    options.capture = a.capture;
    options.optimizer = kind;
    Trainer trainer(backend, data, load_model(model), settings, options);
    for (int e = 0; e < a.warmup; ++e) trainer.train_epoch();
    backend.synchronize();
    warmed.arrive_and_wait();
    for (int e = 0; e < a.epochs; ++e) {
      const auto rows = trainer.train_epoch();
      if (first) {
        m.epoch_seconds.push_back(rows[0].seconds);
        m.val = rows[0].val_acc;
      }
    }
    print_warnings(backend);
  };
  if (a.streams == 1) {
    run(main_backend, true);
  } else {
    const BackendFactory make = backends_of(main_backend.device(), a.gpu);
    std::vector<std::unique_ptr<Backend>> backends;
    for (int i = 0; i < a.streams; ++i) backends.push_back(make());
    std::vector<std::exception_ptr> errors(a.streams);
    std::vector<std::thread> threads;
    for (int i = 0; i < a.streams; ++i)
      threads.emplace_back([&, i] {
        try {
          run(*backends[i], i == 0);
        } catch (...) {
          errors[i] = std::current_exception();
          warmed.arrive_and_drop();  // the others must not wait for this one
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
  m.wall = std::chrono::duration<double>(clock::now() - start).count();
  return m;
}

void check_args(const BenchArgs& a) {
  if (a.batch < 1) SGDLAB_INPUT_ERROR("--batch: expected a batch size > 0, got ", a.batch);
  if (a.epochs < 1) SGDLAB_INPUT_ERROR("--epochs: expected at least 1 timed epoch");
  if (a.warmup < 0) SGDLAB_INPUT_ERROR("--warmup: expected 0 or more epochs");
  if (a.streams < 1) SGDLAB_INPUT_ERROR("--streams: expected 1 or more packs at once");
  // !(x >= 0) also refuses NaN, which every comparison would let through.
  if (!(a.peak_tflops >= 0) || !std::isfinite(a.peak_tflops))
    SGDLAB_INPUT_ERROR("--peak-tflops: expected a finite rate >= 0 (0: the device's), got ",
                       a.peak_tflops);
  if (!(a.peak_gbs >= 0) || !std::isfinite(a.peak_gbs))
    SGDLAB_INPUT_ERROR("--peak-gbs: expected a finite rate >= 0 (0: the device's), got ",
                       a.peak_gbs);
}

// The device's own rates unless --peak-* overrides them.
PeakRates resolve_peak_rates(const BenchArgs& a, const Backend& backend) {
  PeakRates peak = backend.peak_rates();
  if (a.peak_tflops > 0) peak.fp32_flops_per_s = a.peak_tflops * 1e12;
  if (a.peak_gbs > 0) peak.bytes_per_s = a.peak_gbs * 1e9;
  return peak;
}

// What the tables of one bench run share, once the arguments are resolved.
struct BenchPlan {
  const BenchArgs& args;
  std::vector<std::string> models;
  std::vector<int> lanes;
  PeakRates peak;
  size_t samples = 0;
};

// The --json report's settings, with empty floors and runs for the tables to fill.
nlohmann::json report_settings(const BenchPlan& p, const Backend& backend) {
  const BenchArgs& a = p.args;
  return {{"device", backend.describe()},
          {"batch", a.batch},
          {"epochs", a.epochs},
          {"warmup", a.warmup},
          {"tf32", a.gpu.tf32},
          {"autotune", a.gpu.autotune},
          {"optimizer", a.optimizer},
          {"capture", a.capture == Capture::Epoch  ? "epoch"
                      : a.capture == Capture::None ? "none"
                                                   : "step"},
          {"peak_fp32_tflops", p.peak.fp32_flops_per_s / 1e12},
          {"peak_gbs", p.peak.bytes_per_s / 1e9},
          {"train_samples", p.samples},
          {"floors", nlohmann::json::object()},
          {"runs", nlohmann::json::array()}};
}

void print_preamble(const BenchPlan& p, const Backend& backend) {
  const BenchArgs& a = p.args;
  std::cout << "device " << backend.describe() << "; peak FP32 "
            << fixed(p.peak.fp32_flops_per_s / 1e12, 1) << " TFLOP/s, memory "
            << fixed(p.peak.bytes_per_s / 1e9, 0) << " GB/s\n"
            << "batch " << a.batch << ", " << p.samples << " training samples, " << a.epochs
            << " timed epochs after " << a.warmup
            << " (training + validation pass); trial-epochs/s = packs x lanes x epochs / seconds"
            << (a.streams > 1 ? ", " + std::to_string(a.streams) + " packs at once on streams" : "")
            << "\n\n";
}

void print_floors(const BenchPlan& p, nlohmann::json& report) {
  std::cout << "floors per trial-epoch (training only; docs/perf.md)\n"
            << std::left << std::setw(6) << "model" << std::right << std::setw(10) << "params"
            << std::setw(14) << "MFLOP/sample" << std::setw(12) << "GFLOP" << std::setw(10) << "GB"
            << std::setw(19) << "FLOP floor t-e/s" << std::setw(19) << "byte floor t-e/s"
            << "\n";
  for (const auto& m : p.models) {
    const TrainingCost cost = training_cost(load_model(m));
    const EpochFloor f =
        epoch_floor(cost, p.samples, p.args.batch, p.peak.fp32_flops_per_s, p.peak.bytes_per_s);
    std::cout << std::left << std::setw(6) << m << std::right << std::setw(10) << cost.params
              << std::setw(14) << fixed(cost.train_flops_per_sample / 1e6, 3) << std::setw(12)
              << fixed(f.flops / 1e9, 2) << std::setw(10) << fixed(f.bytes / 1e9, 3)
              << std::setw(19) << fixed(f.flop_seconds > 0 ? 1 / f.flop_seconds : 0, 0)
              << std::setw(19) << fixed(f.byte_seconds > 0 ? 1 / f.byte_seconds : 0, 0) << "\n";
    report["floors"][m] = {
        {"params", cost.params},
        {"train_flops_per_sample", cost.train_flops_per_sample},
        {"activation_bytes_per_sample", cost.activation_bytes_per_sample},
        {"parameter_bytes_per_step", cost.parameter_bytes_per_step},
        {"flops_per_trial_epoch", f.flops},
        {"bytes_per_trial_epoch", f.bytes},
        {"flop_floor_trial_epochs_per_s", f.flop_seconds > 0 ? 1 / f.flop_seconds : 0.0},
        {"byte_floor_trial_epochs_per_s", f.byte_seconds > 0 ? 1 / f.byte_seconds : 0.0}};
  }
}

// Measures packs of T lanes of one model; prints its row and adds it to the report.
void measure_row(const BenchPlan& p, const std::string& m, int T, Backend& backend,
                 const DeviceData& device_data, nlohmann::json& report) {
  const BenchArgs& a = p.args;
  const TrainingCost cost = training_cost(load_model(m));
  const Measured run = measure(a, m, T, backend, device_data);
  const double rate = double(a.streams) * T * a.epochs / run.wall;
  std::vector<double> sorted = run.epoch_seconds;
  std::sort(sorted.begin(), sorted.end());
  const double val = run.val;
  const double flops = cost.train_flops_per_sample * double(p.samples) * rate;
  const double percent = p.peak.fp32_flops_per_s > 0 ? 100 * flops / p.peak.fp32_flops_per_s : 0;
  std::cout << std::left << std::setw(6) << m << std::right << std::setw(7) << T << std::setw(12)
            << fixed(sorted[sorted.size() / 2], 4) << std::setw(16) << fixed(rate, 1)
            << std::setw(12) << fixed(percent, 1) << std::setw(14)
            << fixed(working_set_bytes(cost, T, a.batch) * a.streams / 1e6, 1) << std::setw(9)
            << fixed(100 * val, 2) << "%" << std::endl;
  report["runs"].push_back({{"model", m},
                            {"lanes", T},
                            {"epoch_seconds", sorted[sorted.size() / 2]},
                            {"epoch_seconds_all", run.epoch_seconds},
                            {"streams", a.streams},
                            {"trial_epochs_per_s", rate},
                            {"percent_fp32_peak", percent},
                            {"working_set_bytes", working_set_bytes(cost, T, a.batch) * a.streams},
                            {"val_acc_lane0", val}});
}

void print_runs(const BenchPlan& p, Backend& backend, const DeviceData& device_data,
                nlohmann::json& report) {
  std::cout << "\n"
            << std::left << std::setw(6) << "model" << std::right << std::setw(7) << "lanes"
            << std::setw(12) << "epoch s" << std::setw(16) << "trial-epochs/s" << std::setw(12)
            << "% FP32 peak" << std::setw(14) << "working MB" << std::setw(10) << "val acc"
            << "\n";
  for (const auto& m : p.models)
    for (int T : p.lanes) measure_row(p, m, T, backend, device_data, report);
}

void run_bench(const BenchArgs& a) {
  check_args(a);
  BenchPlan p{a, split_names(a.models), {}, {}};
  for (const auto& m : p.models) load_model(m);  // check the models before loading anything
  optimizer_named(a.optimizer, "--optimizer");
  const UspsData data = load_data(a.data);
  auto backend = make_backend(a.device, a.gpu);
  p.lanes = lane_counts(a.lanes, backend->device());
  DeviceData device_data(*backend, data);
  p.peak = resolve_peak_rates(a, *backend);
  p.samples = device_data.part(Split::Train).n;
  // Every pack is checked before the tables start: a refusal is then the only line.
  for (const auto& m : p.models)
    for (int T : p.lanes) {
      TrainerOptions options;
      options.batch = a.batch;
      check_pack_fits(*backend, load_model(m), T, options, p.samples, a.streams);
    }
  nlohmann::json report = report_settings(p, *backend);
  print_preamble(p, *backend);
  print_floors(p, report);
  print_runs(p, *backend, device_data, report);
  if (!a.json.empty()) write_file_atomic(a.json, report.dump(2) + "\n");
}

}  // namespace

void register_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd =
      app.add_subcommand("bench", "trial-epochs per second per model and pack size, with floors");
  cmd->add_option("--models", args->models, "comma list of presets (mlp, cnn, lcnn) or model files")
      ->default_val("mlp,lcnn,cnn");
  cmd->add_option("--lanes", args->lanes,
                  "comma list of pack sizes (auto: GPU 1,8,32,128; CPU 1,8)")
      ->default_val("auto");
  cmd->add_option("--batch", args->batch, "minibatch size")->default_val(32);
  cmd->add_option("--epochs", args->epochs, "timed epochs per run")->default_val(3);
  cmd->add_option("--warmup", args->warmup, "untimed epochs before them")->default_val(1);
  cmd->add_option("--optimizer", args->optimizer,
                  "sgd (momentum 0.9), adam or adamw (lr 0.001) for every pack")
      ->default_val("sgd");
  cmd->add_option("--streams", args->streams,
                  "packs of each size trained at once, each on its own stream (GPU) or thread")
      ->default_val(1);
  add_device_option(*cmd, args->device);
  add_gpu_math_options(*cmd, args->gpu);
  cmd->add_option_function<std::string>(
         "--capture",
         [args](const std::string& v) {
           args->capture = v == "none"    ? Capture::None
                           : v == "epoch" ? Capture::Epoch
                                          : Capture::Step;
         },
         "what a CUDA graph holds: step (one per step, replayed), epoch (all of an epoch's "
         "steps, one launch), or none (eager)")
      ->check(CLI::IsMember({"step", "epoch", "none"}))
      ->default_str("step");
  cmd->add_option("--peak-tflops", args->peak_tflops,
                  "FP32 peak for the floors (default: from the GPU's properties; none on a CPU)");
  cmd->add_option("--peak-gbs", args->peak_gbs,
                  "memory bandwidth in GB/s for the floors (default: from the GPU's properties)");
  add_data_options(*cmd, args->data);
  cmd->add_option("--json", args->json, "also write the figures to this JSON file");
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace sgdlab::cli
