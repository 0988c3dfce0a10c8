// sgdlab train: one pack of lanes of one model, with per-epoch metrics, a result file,
// the trained networks (--save), and checkpoints to resume from (--checkpoint-every,
// --resume).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "common.hpp"
#include "run_folder.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/data_identity.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
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
  // The per-lane hyperparameters' comma lists, by name (engine/hyperparameters.hpp).
  std::map<std::string, std::string> lists;
  std::string seed = "1", split_seed = "0";
  std::string init = "xavier";
  std::string device = "auto";
  BackendOptions gpu;
  DataOptions data;
  std::string out, resume;
  bool quiet = false, save = false, overwrite = false;
  int checkpoint_every = 0;
  // Beyond the paper (all off by default).
  std::string augment, schedule = "constant";
  std::string optimizer = "sgd";
  int warmup = 0;
  bool nesterov = false;
  // The settings' flags as given (or, resumed, as the run recorded them), by name, each
  // with its values: config.json keeps them so that `--resume DIR` alone continues.
  nlohmann::json arguments = nlohmann::json::object();
};

// The flags a run was started with, recorded in config.json so that `--resume DIR` alone
// goes on as it began; with the per-lane lists, recorded_flag_names(). A resume may give
// the device and the GPU options anew (they are not compared with the checkpoint); --out,
// --overwrite, --resume and --quiet are not the run's.
const char* const kRecordedFlags[] = {
    "--model",      "--epochs",           "--batch",    "--seed",      "--init",
    "--nesterov",   "--optimizer",        "--schedule", "--warmup",    "--augment",
    "--data",       "--format",           "--layout",   "--normalize", "--split-seed",
    "--save",       "--checkpoint-every", "--device",   "--tf32",      "--autotune",
    "--conv-kernel"};

// Those, and the per-lane hyperparameters' list flags.
std::vector<std::string> recorded_flag_names() {
  std::vector<std::string> out(std::begin(kRecordedFlags), std::end(kRecordedFlags));
  for (const Hyperparameter& h : lane_hyperparameters())
    if (h.list_default) out.push_back(h.flag);
  return out;
}

std::vector<LaneSettings> lanes_from(const TrainArgs& a) {
  // Before anything is written: the optimizer and what only SGD takes.
  const Optimizer& optim = optimizer_named(a.optimizer, "--optimizer");
  if (a.nesterov && optim.kind() != OptimizerKind::Sgd)
    SGDLAB_INPUT_ERROR("--nesterov: a setting of SGD, not of --optimizer ", optim.name());
  // Each list flag's values, one per lane or one for all: T is the longest list.
  std::vector<std::pair<const Hyperparameter*, std::vector<double>>> lists;
  const auto seed = parse_uint_list("--seed", a.seed);
  size_t T = seed.size();
  for (const Hyperparameter& h : lane_hyperparameters()) {
    if (!h.list_default) continue;
    lists.emplace_back(&h, parse_list(h.flag, a.lists.at(h.name)));
    T = std::max(T, lists.back().second.size());
  }
  for (auto& [h, values] : lists) values = broadcast(h->flag, values, T);
  const auto seed_t = broadcast_list("--seed", seed, T);
  const Schedule schedule = parse_schedule(a.schedule, a.warmup, a.epochs);
  const Augment augment = parse_augment(a.augment);
  std::vector<LaneSettings> lanes(T);
  for (size_t t = 0; t < T; ++t) {
    lanes[t].seed = seed_t[t];
    for (const auto& [h, values] : lists) h->set(lanes[t], values[t]);
    parse_init(a.init, lanes[t]);
    lanes[t].nesterov = a.nesterov;
    lanes[t].schedule = schedule;
    lanes[t].augment = augment;
    // The engine's rule, named by the flag that set the value.
    const Hyperparameter* which = nullptr;
    const std::string why = lane_refusal(lanes[t], &which);
    if (!why.empty()) SGDLAB_INPUT_ERROR(which->flag, ": ", why);
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
  for (const auto& l : lanes) {
    j["lanes"].push_back(recorded_settings(l));
    j["lanes"].back()["seed"] = std::to_string(l.seed);
  }
  // Recorded only when used, so that a plain run's settings read as they always did.
  if (a.nesterov) j["nesterov"] = true;
  if (optimizer_named(a.optimizer, "--optimizer").kind() != OptimizerKind::Sgd)
    j["optimizer"] = a.optimizer;
  if (!lanes[0].schedule.is_constant()) j["schedule"] = to_string(lanes[0].schedule);
  if (lanes[0].augment.on()) j["augment"] = a.augment;
  return j;
}

// A setting's value as a flag takes it: 0.05, not 0.05000000074505806 (a float widened).
std::string shown(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    std::ostringstream s;
    s << std::setprecision(7) << v.get<double>();
    return s.str();
  }
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) out += (out.empty() ? "" : ",") + shown(item);
    return out;
  }
  return v.is_null() ? "none" : v.dump();
}

// A lane's recorded setting; one not recorded is its default (recorded_settings).
nlohmann::json lane_setting(const nlohmann::json& lane, const std::string& key) {
  if (lane.contains(key)) return lane.at(key);
  const Hyperparameter* h = find_hyperparameter(key);
  return h && h->list_default ? nlohmann::json(default_value(*h)) : nlohmann::json();
}

// "lr 0.05 (the checkpoint has 0.01)" for each lane setting that differs (its values over
// the lanes, as the flag's comma list).
std::string lane_differences(const nlohmann::json& saved, const nlohmann::json& now) {
  if (!saved.is_array() || saved.size() != now.size())
    return "lanes " + std::to_string(now.size()) + " (the checkpoint has " +
           std::to_string(saved.is_array() ? saved.size() : 0) + ")";
  std::set<std::string> keys;
  for (const nlohmann::json* lanes : {&saved, &now})
    for (const auto& lane : *lanes)
      for (const auto& [key, unused] : lane.items()) keys.insert(key);
  std::string out;
  for (const std::string& key : keys) {
    nlohmann::json before = nlohmann::json::array(), after = nlohmann::json::array();
    for (size_t t = 0; t < now.size(); ++t) {
      before.push_back(lane_setting(saved[t], key));
      after.push_back(lane_setting(now[t], key));
    }
    if (before != after)
      out += (out.empty() ? "" : "; ") + key + " " + shown(after) + " (the checkpoint has " +
             shown(before) + ")";
  }
  return out;
}

// "batch 64 (the checkpoint has 32)" for every setting that differs, one field each: a
// lane's setting by its name, the model or the data's scaling as a whole.
std::string differences(const nlohmann::json& saved, const nlohmann::json& now) {
  std::string out;
  for (const auto& [key, value] : now.items()) {
    const nlohmann::json before = saved.contains(key) ? saved.at(key) : nlohmann::json();
    if (before == value) continue;
    const std::string one = key == "lanes"      ? lane_differences(before, value)
                            : value.is_object() ? key + " differs from the checkpoint's"
                                                : key + " " + shown(value) +
                                                      " (the checkpoint has " + shown(before) + ")";
    if (!one.empty()) out += (out.empty() ? "" : "; ") + one;
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
  switch (out_kind(out)) {
    case OutKind::Missing:
    case OutKind::Empty:
      break;
    case OutKind::File:
      SGDLAB_INPUT_ERROR("--out ", out, ": is a file, not a folder");
    case OutKind::OtherFolder:
      SGDLAB_INPUT_ERROR("--out ", out, ": is a folder that holds no sgdlab train run (no ",
                         "config.json of one); give a new or an empty folder");
    case OutKind::TrainRun:
      if (a.overwrite) break;
      if (fs::is_regular_file(out + "/checkpoint.safetensors"))
        SGDLAB_INPUT_ERROR("--out ", out, ": already holds a run (give --overwrite to replace ",
                           "it, or --resume ", out, " to continue it)");
      SGDLAB_INPUT_ERROR("--out ", out, ": already holds a run, which has no checkpoint to ",
                         "resume from (give --overwrite to replace it)");
  }
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
    if (j.contains("raw_val_acc")) {
      s.averaged = true;
      s.raw_val_loss = num(j.at("raw_val_loss"));
      s.raw_val_acc = num(j.at("raw_val_acc"));
    }
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
  std::string out;  // the run's name, --out or --resume
  std::unique_ptr<RunFolder> folder;
  nlohmann::json settings, metrics = nlohmann::json::array();
  std::vector<EpochStats> last;
  int checkpointed = -1;  // the epoch of the last checkpoint written

  // Where files go now (an --overwrite's hidden folder until the new run is safe).
  const std::string& dir() const { return folder->path(); }
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
  TrainerOptions options{a.batch};
  options.optimizer = optimizer_named(a.optimizer, "--optimizer").kind();
  r.trainer = std::make_unique<Trainer>(*r.backend, *r.device_data, r.model, r.lanes, options);
  r.settings = run_settings(a, r.model, r.data, r.lanes);
}

// Puts the checkpoint's state back after checking it was trained with these settings.
void resume(Run& r) {
  const std::string path = r.dir() + "/checkpoint.safetensors";
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
  r.checkpointed = c.state.epoch;
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
                           {"arguments", r.a.arguments},
                           {"version", build_version()}};
  config.update(r.settings);
  write_file_atomic(r.dir() + "/config.json", config.dump(2) + "\n");
}

void save_checkpoint(Run& r) {
  save_resume_checkpoint(r.dir() + "/checkpoint.safetensors",
                         {r.trainer->state(), r.settings, r.metrics});
  r.checkpointed = r.trainer->epochs_done();
  r.folder->safe();  // resumable: an --overwrite's new run takes the old one's place
}

// SIGINT or SIGTERM arrived: the run stops between epochs, with a checkpoint of the last
// one when it keeps checkpoints, and says how to go on.
[[noreturn]] void stop_interrupted(Run& r, int signal) {
  const int done = r.trainer->epochs_done();
  if (r.a.checkpoint_every > 0 && done > 0 && r.checkpointed != done) save_checkpoint(r);
  std::string what = std::string("interrupted by ") + StopSignals::name(signal) + " after epoch " +
                     std::to_string(done) + " of " + std::to_string(r.a.epochs);
  if (r.checkpointed > 0)
    what += "; continue with: sgdlab train --resume " + r.out;
  else if (r.folder->replacing())
    what += "; no checkpoint, so the run already in " + r.out + " is kept";
  else
    what += "; no checkpoint to resume from (--checkpoint-every N keeps one)";
  throw Interrupted(signal, what);
}

void train_epochs(Run& r) {
  MetricsWriter metrics(r.dir(), r.trainer->plan().param_layer_names());
  const size_t layers = r.trainer->plan().param_layer_names().size();
  for (const auto& row : rows_from_json(r.metrics, layers)) metrics.append({row});
  while (r.trainer->epochs_done() < r.a.epochs) {
    if (const int signal = StopSignals::received()) stop_interrupted(r, signal);
    r.last = r.trainer->train_epoch();
    metrics.append(r.last);
    r.folder->epoch_finished();
    for (const auto& row : r.last)
      r.metrics.push_back(epoch_json(row, r.trainer->plan().param_layer_names()));
    print_epoch(r.last, r.a.epochs);
    const int done = r.trainer->epochs_done();
    if (r.a.checkpoint_every > 0 && (done % r.a.checkpoint_every == 0 || done == r.a.epochs))
      save_checkpoint(r);
  }
  if (const int signal = StopSignals::received()) stop_interrupted(r, signal);
}

// One model checkpoint per lane, as PyTorch's state_dict lays the tensors out.
void save_models(const Run& r) {
  const std::vector<float> flat = r.trainer->evaluated_parameters();
  for (size_t t = 0; t < r.lanes.size(); ++t) {
    const LaneSettings& l = r.lanes[t];
    // With "ema", the weights are the moving average.
    const nlohmann::json hyperparameters = model_hyperparameters(l, r.a.batch);
    save_model_checkpoint(r.dir() + "/models/lane-" + std::to_string(t) + ".safetensors",
                          {r.model, extract_lane(r.trainer->plan(), flat, int(t)), hyperparameters,
                           r.trainer->epochs_done(), r.data.scaling, r.data.format});
  }
}

void write_result(const Run& r) {
  const auto test = r.trainer->evaluate(Split::Test);
  nlohmann::json result = {{"model", r.a.model},
                           {"device", r.backend->describe()},
                           {"scaling", r.data.scaling.to_json()}};
  for (size_t t = 0; t < r.lanes.size(); ++t) {
    const EpochStats& last = r.last[t];
    nlohmann::json lane = recorded_settings(r.lanes[t]);
    lane.update({{"lane", t},
                 {"seed", r.lanes[t].seed},
                 {"val_acc", last.val_acc},
                 {"val_loss", last.val_loss},
                 {"test_acc", test[t].acc},
                 {"test_loss", test[t].loss},
                 {"diverged", last.diverged}});
    result["lanes"].push_back(lane);
    std::cout << "lane " << t << ": val " << std::fixed << std::setprecision(2)
              << 100 * last.val_acc << "%  test " << 100 * test[t].acc << "%"
              << (last.diverged ? "  (diverged)" : "") << std::defaultfloat << "\n";
  }
  write_file_atomic(r.dir() + "/result.json", result.dump(2) + "\n");
}

RunFolder::Mode folder_mode(const TrainArgs& a) {
  return !a.resume.empty() ? RunFolder::Mode::Resume
         : a.overwrite     ? RunFolder::Mode::Overwrite
                           : RunFolder::Mode::New;
}

void run_train(const TrainArgs& a) {
  StopSignals signals;
  Run r{a};
  set_up(r);
  r.folder = std::make_unique<RunFolder>(r.out, folder_mode(a));
  if (!a.resume.empty()) resume(r);
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
  r.folder->safe();
  r.folder->keep();
  std::cout << "wrote " << r.out << "/{config.json,metrics.jsonl,metrics.csv,result.json"
            << (a.checkpoint_every ? ",checkpoint.safetensors" : "")
            << (a.save ? ",models/lane-*.safetensors" : "") << "}\n";
}

// The recorded flags the user gave, by name, with their values as given.
nlohmann::json given_arguments(const CLI::App& cmd) {
  nlohmann::json out = nlohmann::json::object();
  for (const std::string& name : recorded_flag_names()) {
    const CLI::Option* opt = cmd.get_option(name);
    if (opt->count() > 0) out[name] = opt->results();
  }
  return out;
}

// `--resume DIR` continues the run with the flags its config.json recorded: each one the
// user did not give again takes the recorded value, so only what the user gave is
// compared with the checkpoint. (A config.json of an older sgdlab records none: then the
// flags must be given again, as before.)
void take_recorded_arguments(CLI::App& cmd, const std::string& dir) {
  nlohmann::json recorded;
  try {
    recorded = nlohmann::json::parse(read_text_file(dir + "/config.json")).at("arguments");
  } catch (const std::exception&) {
    return;
  }
  if (!recorded.is_object()) return;
  for (const std::string& name : recorded_flag_names()) {
    CLI::Option* opt = cmd.get_option(name);
    if (opt->count() > 0 || !recorded.contains(name)) continue;
    for (const auto& value : recorded[name]) opt->add_result(value.get<std::string>());
    opt->run_callback();
  }
}

// The checks of the flags among themselves, then the recorded ones of a resumed run.
void prepare_arguments(CLI::App& cmd, TrainArgs& a) {
  if (!a.resume.empty()) {
    if (cmd.get_option("--out")->count() > 0)
      SGDLAB_INPUT_ERROR("--out: cannot go with --resume (the resumed run stays in ", a.resume,
                         "; start a new run without --resume)");
    if (a.overwrite)
      SGDLAB_INPUT_ERROR("--overwrite: cannot go with --resume (a resumed run is continued, not ",
                         "replaced)");
    take_recorded_arguments(cmd, a.resume);
  }
  a.arguments = given_arguments(cmd);
  a.data.split_seed = parse_uint("--split-seed", a.split_seed);
}

}  // namespace

void register_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train one pack of lanes (a single run is T = 1)");
  cmd->add_option("--model", args->model, "a preset (mlp, cnn, lcnn) or a model file (.json)")
      ->default_val("cnn");
  cmd->add_option("--epochs", args->epochs, "training epochs")->default_val(20);
  cmd->add_option("--batch", args->batch, "minibatch size (shared by the pack)")->default_val(32);
  for (const Hyperparameter& h : lane_hyperparameters())
    if (h.list_default)
      cmd->add_option(h.flag, args->lists[h.name], h.help)->default_val(h.list_default);
  cmd->add_option("--seed", args->seed, "seed (weights, shuffles, dropout), 0 to 2^64-1; list")
      ->default_val("1");
  cmd->add_option("--init", args->init, "xavier, or uniform:LOW:HIGH")->default_val("xavier");
  cmd->add_flag("--nesterov", args->nesterov, "Nesterov momentum (PyTorch's form; SGD only)");
  cmd->add_option("--optimizer", args->optimizer,
                  "sgd (with --momentum), adam or adamw (torch.optim.Adam and AdamW)")
      ->default_val("sgd");
  cmd->add_option("--schedule", args->schedule,
                  "learning-rate schedule: constant, step:EPOCHS:GAMMA or cosine (per epoch); "
                  "cosine-per-step or onecycle[:PCT] (per step, as PyTorch's OneCycleLR with "
                  "max_lr = --lr)")
      ->default_val("constant");
  cmd->add_option("--warmup", args->warmup,
                  "epochs of linear learning-rate warm-up (per step with a per-step schedule)")
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
                  "continue the run in this folder from its checkpoint, with the settings in "
                  "its config.json (a flag given again must match, --epochs may be larger)");
  cmd->add_flag("--quiet", args->quiet, "no model summary");
  cmd->callback([args, cmd] {
    prepare_arguments(*cmd, *args);
    run_train(*args);
  });
}

}  // namespace sgdlab::cli
