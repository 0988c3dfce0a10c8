// sgdlab train: one pack of lanes of one model, with per-epoch metrics and a result file.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/metrics_io.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab::cli {
namespace {

struct TrainArgs {
  std::string model = "cnn";
  int epochs = 20;
  int batch = 32;
  std::string lr = "0.01", momentum = "0.9", dropout = "0.3", seed = "1";
  std::string init = "xavier";
  std::string device = "auto";
  BackendOptions gpu;
  DataOptions data;
  std::string out;
  bool quiet = false;
};

void parse_init(const std::string& text, LaneSettings& lane) {
  if (text == "xavier") {
    lane.init = InitKind::Xavier;
    return;
  }
  // uniform:LOW:HIGH
  if (text.rfind("uniform:", 0) == 0) {
    const auto rest = text.substr(8);
    const auto colon = rest.find(':');
    if (colon != std::string::npos) {
      const auto low = parse_list("--init", rest.substr(0, colon));
      const auto high = parse_list("--init", rest.substr(colon + 1));
      if (low.size() == 1 && high.size() == 1) {
        lane.init = InitKind::Uniform;
        lane.init_low = float(low[0]);
        lane.init_high = float(high[0]);
        return;
      }
    }
  }
  SGDLAB_INPUT_ERROR("--init: expected 'xavier' or 'uniform:LOW:HIGH', got '", text, "'");
}

std::vector<LaneSettings> lanes_from(const TrainArgs& a) {
  const auto lr = parse_list("--lr", a.lr), mu = parse_list("--momentum", a.momentum),
             drop = parse_list("--dropout", a.dropout), seed = parse_list("--seed", a.seed);
  const size_t T = std::max({lr.size(), mu.size(), drop.size(), seed.size()});
  const auto lr_t = broadcast("--lr", lr, T), mu_t = broadcast("--momentum", mu, T),
             drop_t = broadcast("--dropout", drop, T), seed_t = broadcast("--seed", seed, T);
  std::vector<LaneSettings> lanes(T);
  for (size_t t = 0; t < T; ++t) {
    if (seed_t[t] < 0 || seed_t[t] != std::floor(seed_t[t]))
      SGDLAB_INPUT_ERROR("--seed: expected non-negative integers, got ", seed_t[t]);
    lanes[t] = {float(lr_t[t]), float(mu_t[t]), float(drop_t[t]), uint64_t(seed_t[t])};
    parse_init(a.init, lanes[t]);
    validate(lanes[t]);
  }
  return lanes;
}

void run_train(const TrainArgs& a) {
  const ModelSpec model = load_model(a.model);
  if (a.epochs <= 0) SGDLAB_INPUT_ERROR("--epochs: expected a number > 0, got ", a.epochs);
  if (a.batch <= 0) SGDLAB_INPUT_ERROR("--batch: expected a batch size > 0, got ", a.batch);
  const std::vector<LaneSettings> lanes = lanes_from(a);
  // Everything the run reads is checked before anything is written.
  const UspsData data = load_data(a.data);
  auto backend = make_backend(a.device, a.gpu);
  DeviceData device_data(*backend, data);
  Trainer trainer(*backend, device_data, model, lanes, {a.batch});

  const std::string out = a.out.empty() ? default_out_dir("train-" + a.model) : a.out;
  std::filesystem::create_directories(out);
  nlohmann::json config = {{"command", "train"},
                           {"model", a.model},
                           {"device", backend->describe()},
                           {"epochs", a.epochs},
                           {"batch", a.batch},
                           {"init", a.init},
                           {"model_file", model_to_json(model)},
                           {"data", data.source},
                           {"data_format", data.format},
                           {"scaling", data.scaling.to_json()},
                           {"split_seed", a.data.split_seed},
                           {"train_samples", data.train.size()},
                           {"val_samples", data.val.size()},
                           {"test_samples", data.test.size()},
                           {"steps_per_epoch", trainer.steps_per_epoch()},
                           {"version", build_version()}};
  for (const auto& l : lanes)
    config["lanes"].push_back(
        {{"lr", l.lr}, {"momentum", l.momentum}, {"dropout", l.dropout}, {"seed", l.seed}});
  write_file_atomic(out + "/config.json", config.dump(2) + "\n");
  if (!a.quiet) std::cout << trainer.plan().summary();
  std::cout << "training " << a.model << " on " << backend->describe() << ": " << lanes.size()
            << " lane(s), batch " << a.batch << ", " << trainer.steps_per_epoch()
            << " steps/epoch; data " << data.source << "\n";

  MetricsWriter metrics(out, trainer.plan().param_layer_names());
  std::vector<EpochStats> last;
  for (int e = 0; e < a.epochs; ++e) {
    last = trainer.train_epoch();
    metrics.append(last);
    std::cout << "epoch " << std::setw(3) << e + 1 << "/" << a.epochs << std::fixed
              << std::setprecision(3) << "  " << last[0].seconds << " s";
    for (const auto& r : last) {
      std::cout << " | lane " << r.lane << " loss " << std::setprecision(4) << r.train_loss
                << " val " << std::setprecision(2) << 100 * r.val_acc << "%";
      if (r.diverged) std::cout << " DIVERGED";
    }
    std::cout << std::defaultfloat << std::endl;
  }
  print_warnings(*backend);
  const auto test = trainer.evaluate(Split::Test);
  nlohmann::json result = {
      {"model", a.model}, {"device", backend->describe()}, {"scaling", data.scaling.to_json()}};
  for (size_t t = 0; t < lanes.size(); ++t) {
    result["lanes"].push_back({{"lane", t},
                               {"lr", lanes[t].lr},
                               {"momentum", lanes[t].momentum},
                               {"dropout", lanes[t].dropout},
                               {"seed", lanes[t].seed},
                               {"val_acc", last[t].val_acc},
                               {"val_loss", last[t].val_loss},
                               {"test_acc", test[t].acc},
                               {"test_loss", test[t].loss},
                               {"diverged", last[t].diverged}});
    std::cout << "lane " << t << ": val " << std::fixed << std::setprecision(2)
              << 100 * last[t].val_acc << "%  test " << 100 * test[t].acc << "%"
              << (last[t].diverged ? "  (diverged)" : "") << std::defaultfloat << "\n";
  }
  write_file_atomic(out + "/result.json", result.dump(2) + "\n");
  std::cout << "wrote " << out << "/{config.json,metrics.jsonl,metrics.csv,result.json}\n";
}

}  // namespace

void register_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train one pack of lanes (a single run is T = 1)");
  cmd->add_option("--model", args->model, "a preset (mlp, cnn, lcnn) or a model file (.json)")
      ->default_val("cnn");
  cmd->add_option("--epochs", args->epochs, "training epochs")->default_val(20);
  cmd->add_option("--batch", args->batch, "minibatch size (shared by the pack)")->default_val(32);
  cmd->add_option("--lr", args->lr, "learning rate; a comma list makes a pack")
      ->default_val("0.01");
  cmd->add_option("--momentum", args->momentum, "momentum in [0, 1); list")->default_val("0.9");
  cmd->add_option("--dropout", args->dropout, "dropout rate in [0, 1); list")->default_val("0.3");
  cmd->add_option("--seed", args->seed, "seed (weights, shuffles, dropout); list")
      ->default_val("1");
  cmd->add_option("--init", args->init, "xavier, or uniform:LOW:HIGH")->default_val("xavier");
  add_device_option(*cmd, args->device);
  add_gpu_math_options(*cmd, args->gpu);
  add_data_options(*cmd, args->data);
  cmd->add_option("--split-seed", args->data.split_seed, "seed of the 20% validation split")
      ->default_val(0);
  cmd->add_option("--out", args->out, "output folder (default runs/train-MODEL-TIME)");
  cmd->add_flag("--quiet", args->quiet, "no model summary");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace sgdlab::cli
