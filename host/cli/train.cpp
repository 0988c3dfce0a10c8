// sgdlab train: one pack of lanes of one model, with per-epoch metrics, a result file,
// the trained networks (--save), and checkpoints to resume from (--checkpoint-every,
// --resume).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/data_identity.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/metrics_io.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab::cli {
namespace {
namespace fs = std::filesystem;

struct TrainArgs {
  std::string model = "cnn";
  int epochs = 20;
  int batch = 32;
  std::string lr = "0.01", momentum = "0.9", dropout = "0.3", seed = "1", split_seed = "0";
  std::string init = "xavier";
  std::string device = "auto";
  BackendOptions gpu;
  DataOptions data;
  std::string out, resume;
  bool quiet = false, save = false, overwrite = false;
  int checkpoint_every = 0;
  // Beyond the paper (all off by default).
  std::string augment, schedule = "constant", weight_decay = "0";
  int warmup = 0;
  bool nesterov = false;
};

std::vector<LaneSettings> lanes_from(const TrainArgs& a) {
  const auto lr = parse_list("--lr", a.lr), mu = parse_list("--momentum", a.momentum),
             drop = parse_list("--dropout", a.dropout);
  const auto seed = parse_uint_list("--seed", a.seed);
  const auto wd = parse_list("--weight-decay", a.weight_decay);
  const size_t T = std::max({lr.size(), mu.size(), drop.size(), seed.size(), wd.size()});
  const auto lr_t = broadcast("--lr", lr, T), mu_t = broadcast("--momentum", mu, T),
             drop_t = broadcast("--dropout", drop, T), wd_t = broadcast("--weight-decay", wd, T);
  const auto seed_t = broadcast_list("--seed", seed, T);
  const Schedule schedule = parse_schedule(a.schedule, a.warmup, a.epochs);
  const Augment augment = parse_augment(a.augment);
  std::vector<LaneSettings> lanes(T);
  for (size_t t = 0; t < T; ++t) {
    lanes[t] = {float(lr_t[t]), float(mu_t[t]), float(drop_t[t]), seed_t[t]};
    parse_init(a.init, lanes[t]);
    lanes[t].weight_decay = float(wd_t[t]);
    lanes[t].nesterov = a.nesterov;
    lanes[t].schedule = schedule;
    lanes[t].augment = augment;
    validate(lanes[t]);
  }
  return lanes;
}

// What a resumed run must share with the run it continues (the number of epochs may
// grow; the device may change).
nlohmann::json run_settings(const TrainArgs& a, const ModelSpec& model, const UspsData& data,
                            const std::vector<LaneSettings>& lanes) {
  nlohmann::json j = {{"model", model_to_json(model)},
                      {"batch", a.batch},
                      {"init", a.init},
                      {"data", data.source},
                      {"data_identity", data_identity(data, a.data)},
                      {"data_format", data.format},
                      {"scaling", data.scaling.to_json()},
                      {"split_seed", a.data.split_seed},
                      {"train_samples", data.train.size()}};
  for (const auto& l : lanes)
    j["lanes"].push_back({{"lr", l.lr},
                          {"momentum", l.momentum},
                          {"dropout", l.dropout},
                          {"seed", std::to_string(l.seed)},
                          {"weight_decay", l.weight_decay}});
  // Recorded only when used, so that a plain run's settings read as they always did.
  if (a.nesterov) j["nesterov"] = true;
  if (!lanes[0].schedule.is_constant()) j["schedule"] = to_string(lanes[0].schedule);
  if (lanes[0].augment.on()) j["augment"] = a.augment;
  return j;
}

// "batch 64 (the checkpoint has 32)" for every setting that differs.
std::string differences(const nlohmann::json& saved, const nlohmann::json& now) {
  std::string out;
  for (const auto& [key, value] : now.items()) {
    const nlohmann::json before = saved.contains(key) ? saved.at(key) : nlohmann::json();
    if (before == value) continue;
    out += (out.empty() ? "" : "; ") + key + " " + value.dump() + " (the checkpoint has " +
           before.dump() + ")";
  }
  return out;
}

// The data is compared by its identity (engine/data_identity.hpp), not by its path as
// text: a trailing slash, a relative path or a copy of the files is the same data. A
// checkpoint of an older sgdlab has no identity; its format, scaling and split seed are
// still compared with the other settings.
void check_same_data(const std::string& dir, const nlohmann::json& saved,
                     const nlohmann::json& now) {
  if (!saved.contains("data_identity")) return;
  const std::string why =
      data_identity_difference(saved["data_identity"], now["data_identity"], "the checkpoint");
  if (!why.empty())
    SGDLAB_INPUT_ERROR("--resume ", dir, ": other data than the checkpoint's: ", why);
}

nlohmann::json without_data(nlohmann::json settings) {
  settings.erase("data");
  settings.erase("data_identity");
  return settings;
}

// The folder the run writes to: a new one, one given with --overwrite, or the run to
// resume. Checked before anything is written.
std::string out_folder(const TrainArgs& a) {
  if (!a.resume.empty()) {
    if (!fs::is_regular_file(a.resume + "/checkpoint.safetensors"))
      SGDLAB_INPUT_ERROR("--resume ", a.resume, ": no checkpoint.safetensors there (train with ",
                         "--checkpoint-every N to write one)");
    return a.resume;
  }
  const std::string out =
      a.out.empty() ? default_out_dir("train-" + fs::path(a.model).stem().string()) : a.out;
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_empty(out, ec) && !a.overwrite)
    SGDLAB_INPUT_ERROR("--out ", out, ": already holds a run (give --overwrite to replace it, or ",
                       "--resume ", out, " to continue it)");
  return out;
}

std::vector<EpochStats> rows_from_json(const nlohmann::json& rows, size_t layers) {
  std::vector<EpochStats> out;
  auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
  for (const auto& j : rows) {
    EpochStats s;
    s.lane = j.at("lane").get<int>();
    s.epoch = j.at("epoch").get<int>();
    s.train_loss = num(j.at("train_loss"));
    s.train_acc = num(j.at("train_acc"));
    s.val_loss = num(j.at("val_loss"));
    s.val_acc = num(j.at("val_acc"));
    s.grad_mean_abs = num(j.at("grad_mean_abs"));
    s.grad_l2 = num(j.at("grad_l2"));
    s.seconds = num(j.at("seconds"));
    s.lr = j.contains("lr") ? num(j.at("lr")) : 0.0;
    s.diverged = j.at("diverged").get<bool>();
    for (const auto& [name, layer] : j.at("layers").items()) {
      s.layer_grad_mean_abs.push_back(num(layer.at("grad_mean_abs")));
      s.layer_grad_l2.push_back(num(layer.at("grad_l2")));
    }
    if (s.layer_grad_l2.size() == layers) out.push_back(s);
  }
  return out;
}

void print_epoch(const std::vector<EpochStats>& rows, int epochs) {
  std::cout << "epoch " << std::setw(3) << rows[0].epoch << "/" << epochs << std::fixed
            << std::setprecision(3) << "  " << rows[0].seconds << " s";
  for (const auto& r : rows) {
    std::cout << " | lane " << r.lane << " loss " << std::setprecision(4) << r.train_loss << " val "
              << std::setprecision(2) << 100 * r.val_acc << "%";
    if (r.diverged) std::cout << " DIVERGED";
  }
  std::cout << std::defaultfloat << std::endl;
}

// Everything one run holds while it trains.
struct Run {
  const TrainArgs& a;
  ModelSpec model;
  std::vector<LaneSettings> lanes;
  UspsData data;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeviceData> device_data;
  std::unique_ptr<Trainer> trainer;
  std::string out;
  nlohmann::json settings, metrics = nlohmann::json::array();
  std::vector<EpochStats> last;
};

// Loads and checks everything the run reads before anything is written.
void set_up(Run& r) {
  const TrainArgs& a = r.a;
  r.model = load_model(a.model);
  if (a.epochs <= 0) SGDLAB_INPUT_ERROR("--epochs: expected a number > 0, got ", a.epochs);
  if (a.batch <= 0) SGDLAB_INPUT_ERROR("--batch: expected a batch size > 0, got ", a.batch);
  if (a.checkpoint_every < 0)
    SGDLAB_INPUT_ERROR("--checkpoint-every: expected epochs >= 0, got ", a.checkpoint_every);
  r.lanes = lanes_from(a);
  r.out = out_folder(a);
  r.data = load_data(a.data);
  r.backend = make_backend(a.device, a.gpu);
  r.device_data = std::make_unique<DeviceData>(*r.backend, r.data);
  r.trainer = std::make_unique<Trainer>(*r.backend, *r.device_data, r.model, r.lanes,
                                        TrainerOptions{a.batch});
  r.settings = run_settings(a, r.model, r.data, r.lanes);
}

// Puts the checkpoint's state back after checking it was trained with these settings.
void resume(Run& r) {
  const std::string path = r.out + "/checkpoint.safetensors";
  ResumeCheckpoint c = load_resume_checkpoint(path);
  check_same_data(r.out, c.config, r.settings);
  const std::string diff = differences(without_data(c.config), without_data(r.settings));
  if (!diff.empty())
    SGDLAB_INPUT_ERROR("--resume ", r.out, ": other settings than the checkpoint's: ", diff);
  if (c.state.epoch >= r.a.epochs)
    SGDLAB_INPUT_ERROR("--resume ", r.out, ": the checkpoint is at epoch ", c.state.epoch,
                       " already (--epochs ", r.a.epochs, ")");
  r.trainer->restore(c.state);
  r.metrics = c.metrics;
  std::cout << "resuming " << r.out << " after epoch " << c.state.epoch << "\n";
}

void write_config(const Run& r) {
  nlohmann::json config = {{"command", "train"},
                           {"model", r.a.model},
                           {"device", r.backend->describe()},
                           {"epochs", r.a.epochs},
                           {"checkpoint_every", r.a.checkpoint_every},
                           {"val_samples", r.data.val.size()},
                           {"test_samples", r.data.test.size()},
                           {"steps_per_epoch", r.trainer->steps_per_epoch()},
                           {"version", build_version()}};
  config.update(r.settings);
  write_file_atomic(r.out + "/config.json", config.dump(2) + "\n");
}

void train_epochs(Run& r) {
  MetricsWriter metrics(r.out, r.trainer->plan().param_layer_names());
  const size_t layers = r.trainer->plan().param_layer_names().size();
  for (const auto& row : rows_from_json(r.metrics, layers)) metrics.append({row});
  while (r.trainer->epochs_done() < r.a.epochs) {
    r.last = r.trainer->train_epoch();
    metrics.append(r.last);
    for (const auto& row : r.last)
      r.metrics.push_back(epoch_json(row, r.trainer->plan().param_layer_names()));
    print_epoch(r.last, r.a.epochs);
    const int done = r.trainer->epochs_done();
    if (r.a.checkpoint_every > 0 && (done % r.a.checkpoint_every == 0 || done == r.a.epochs))
      save_resume_checkpoint(r.out + "/checkpoint.safetensors",
                             {r.trainer->state(), r.settings, r.metrics});
  }
}

// One model checkpoint per lane, as PyTorch's state_dict lays the tensors out.
void save_models(const Run& r) {
  const std::vector<float> flat = r.trainer->parameters();
  for (size_t t = 0; t < r.lanes.size(); ++t) {
    const LaneSettings& l = r.lanes[t];
    save_model_checkpoint(r.out + "/models/lane-" + std::to_string(t) + ".safetensors",
                          {r.model,
                           extract_lane(r.trainer->plan(), flat, int(t)),
                           {{"lr", l.lr},
                            {"momentum", l.momentum},
                            {"dropout", l.dropout},
                            {"seed", std::to_string(l.seed)},
                            {"batch", r.a.batch}},
                           r.trainer->epochs_done(),
                           r.data.scaling,
                           r.data.format});
  }
}

void write_result(const Run& r) {
  const auto test = r.trainer->evaluate(Split::Test);
  nlohmann::json result = {{"model", r.a.model},
                           {"device", r.backend->describe()},
                           {"scaling", r.data.scaling.to_json()}};
  for (size_t t = 0; t < r.lanes.size(); ++t) {
    const EpochStats& last = r.last[t];
    result["lanes"].push_back({{"lane", t},
                               {"lr", r.lanes[t].lr},
                               {"momentum", r.lanes[t].momentum},
                               {"dropout", r.lanes[t].dropout},
                               {"seed", r.lanes[t].seed},
                               {"val_acc", last.val_acc},
                               {"val_loss", last.val_loss},
                               {"test_acc", test[t].acc},
                               {"test_loss", test[t].loss},
                               {"diverged", last.diverged}});
    std::cout << "lane " << t << ": val " << std::fixed << std::setprecision(2)
              << 100 * last.val_acc << "%  test " << 100 * test[t].acc << "%"
              << (last.diverged ? "  (diverged)" : "") << std::defaultfloat << "\n";
  }
  write_file_atomic(r.out + "/result.json", result.dump(2) + "\n");
}

// A run folder this run made and in which no epoch finished holds nothing to keep: on
// a failure (a full disk, say) it goes, rather than leave a config.json and empty
// metrics that look like a run. A folder with finished epochs stays, to resume.
class NewFolderGuard {
 public:
  NewFolderGuard(const std::string& dir, const Trainer& trainer)
      : dir_(dir), trainer_(trainer), start_epoch_(trainer.epochs_done()) {
    std::error_code ec;
    made_ = !fs::exists(dir_, ec);
    fs::create_directories(dir_, ec);
    if (ec) SGDLAB_INPUT_ERROR("--out ", dir_, ": cannot create the folder (", ec.message(), ")");
  }
  ~NewFolderGuard() {
    if (!made_ || done_ || trainer_.epochs_done() > start_epoch_) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);  // never throws: a destructor
  }
  void keep() { done_ = true; }

 private:
  std::string dir_;
  const Trainer& trainer_;
  int start_epoch_;
  bool made_ = false, done_ = false;
};

void run_train(const TrainArgs& a) {
  Run r{a};
  set_up(r);
  if (!a.resume.empty()) resume(r);
  NewFolderGuard folder(r.out, *r.trainer);
  write_config(r);
  if (!a.quiet) std::cout << r.trainer->plan().summary();
  std::cout << "training " << a.model << " on " << r.backend->describe() << ": " << r.lanes.size()
            << " lane(s), batch " << a.batch << ", " << r.trainer->steps_per_epoch()
            << " steps/epoch; data " << r.data.source << "\n";
  train_epochs(r);
  print_warnings(*r.backend);
  SGDLAB_CHECK(!r.last.empty(), "at least one epoch trained");
  write_result(r);
  if (a.save) save_models(r);
  folder.keep();
  std::cout << "wrote " << r.out << "/{config.json,metrics.jsonl,metrics.csv,result.json"
            << (a.checkpoint_every ? ",checkpoint.safetensors" : "")
            << (a.save ? ",models/lane-*.safetensors" : "") << "}\n";
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
  cmd->add_option("--seed", args->seed, "seed (weights, shuffles, dropout), 0 to 2^64-1; list")
      ->default_val("1");
  cmd->add_option("--init", args->init, "xavier, or uniform:LOW:HIGH")->default_val("xavier");
  cmd->add_option("--weight-decay", args->weight_decay,
                  "L2 on weights, not biases, coupled as in PyTorch's SGD; list")
      ->default_val("0");
  cmd->add_flag("--nesterov", args->nesterov, "Nesterov momentum (PyTorch's form)");
  cmd->add_option("--schedule", args->schedule,
                  "learning rate per epoch: constant, step:EPOCHS:GAMMA or cosine")
      ->default_val("constant");
  cmd->add_option("--warmup", args->warmup, "epochs of linear learning-rate warm-up")
      ->default_val(0);
  cmd->add_option("--augment", args->augment,
                  "random affine transform of each training image, e.g. "
                  "shift=2,rotate=10,scale=0.1 (pixels, degrees, relative; default off)");
  add_device_option(*cmd, args->device);
  add_gpu_math_options(*cmd, args->gpu);
  add_data_options(*cmd, args->data);
  cmd->add_option("--split-seed", args->split_seed, "seed of the 20% validation split")
      ->default_val("0");
  cmd->add_option("--out", args->out, "output folder (default runs/train-MODEL-TIME)");
  cmd->add_flag("--overwrite", args->overwrite, "replace the run already in --out");
  cmd->add_flag("--save", args->save,
                "keep the trained networks: OUT/models/lane-<t>.safetensors (docs/checkpoints.md)");
  cmd->add_option("--checkpoint-every", args->checkpoint_every,
                  "write OUT/checkpoint.safetensors every N epochs (and at the end)")
      ->default_val(0);
  cmd->add_option("--resume", args->resume,
                  "continue the run in this folder from its checkpoint (same settings; "
                  "--epochs may be larger)");
  cmd->add_flag("--quiet", args->quiet, "no model summary");
  cmd->callback([args] {
    args->data.split_seed = parse_uint("--split-seed", args->split_seed);
    run_train(*args);
  });
}

}  // namespace sgdlab::cli
