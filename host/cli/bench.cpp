// sgdlab bench: epoch seconds per model, for one lane and for a pack. Prints figures;
// it asserts nothing about speed.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/cli/common.hpp"
#include "sgdlab/error.hpp"
#include "sgdlab/files.hpp"
#include "sgdlab/trainer.hpp"

namespace sgdlab::cli {
namespace {

struct BenchArgs {
  std::string models = "mlp,lcnn,cnn";
  std::string lanes = "1";
  int batch = 32;
  int epochs = 3;
  std::string device = "auto";
  std::string data;
  std::string json;
};

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

void run_bench(const BenchArgs& a) {
  if (a.epochs < 2) SGDLAB_INPUT_ERROR("--epochs: expected at least 2 (the first is warm-up)");
  const auto lane_counts = parse_list("--lanes", a.lanes);
  for (const auto& m : split_names(a.models)) model_preset(m);  // check names first
  const UspsData data = load_usps({a.data});
  auto backend = make_backend(a.device);
  DeviceData device_data(*backend, data);
  nlohmann::json report = {{"device", backend->describe()}, {"batch", a.batch}, {"runs", {}}};
  std::cout << "device " << backend->describe() << ", batch " << a.batch
            << ", median epoch of epochs 2.." << a.epochs << " (training + validation)\n";
  std::cout << std::left << std::setw(6) << "model" << std::right << std::setw(7) << "lanes"
            << std::setw(14) << "epoch s" << std::setw(16) << "trial-epochs/s" << std::setw(12)
            << "val acc"
            << "\n";
  for (const auto& m : split_names(a.models)) {
    for (double lanes : lane_counts) {
      const int T = int(lanes);
      if (T < 1) SGDLAB_INPUT_ERROR("--lanes: expected counts >= 1");
      std::vector<LaneSettings> settings;
      for (int t = 0; t < T; ++t)
        settings.push_back({m == "mlp" ? 0.05f : 0.01f, 0.9f, 0.3f, uint64_t(t + 1)});
      Trainer trainer(*backend, device_data, model_preset(m), settings, {a.batch});
      std::vector<double> seconds;
      double val = 0;
      for (int e = 0; e < a.epochs; ++e) {
        const auto rows = trainer.train_epoch();
        if (e > 0) seconds.push_back(rows[0].seconds);
        val = rows[0].val_acc;
      }
      std::sort(seconds.begin(), seconds.end());
      const double median = seconds[seconds.size() / 2];
      std::cout << std::left << std::setw(6) << m << std::right << std::setw(7) << T << std::fixed
                << std::setw(14) << std::setprecision(4) << median << std::setw(16)
                << std::setprecision(1) << T / median << std::setw(11) << std::setprecision(2)
                << 100 * val << "%" << std::defaultfloat << "\n";
      report["runs"].push_back({{"model", m},
                                {"lanes", T},
                                {"epoch_seconds", median},
                                {"epoch_seconds_all", seconds},
                                {"trial_epochs_per_s", T / median}});
    }
  }
  if (!a.json.empty()) write_file_atomic(a.json, report.dump(2) + "\n");
}

}  // namespace

void register_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "time training epochs per model and pack size");
  cmd->add_option("--models", args->models, "comma list of models")->default_val("mlp,lcnn,cnn");
  cmd->add_option("--lanes", args->lanes, "comma list of pack sizes")->default_val("1");
  cmd->add_option("--batch", args->batch, "minibatch size")->default_val(32);
  cmd->add_option("--epochs", args->epochs, "epochs per run (the first is warm-up)")
      ->default_val(3);
  add_device_option(*cmd, args->device);
  cmd->add_option("--data", args->data, "folder with zip.train.gz and zip.test.gz");
  cmd->add_option("--json", args->json, "also write the figures to this JSON file");
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace sgdlab::cli
