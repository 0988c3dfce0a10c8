// sgdlab sweep / trials / narrow: hyperparameter sweeps stored in a study (a SQLite file or
// a PostgreSQL database, see sgdlab/search/storage.hpp).
#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/data_identity.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "sgdlab/search/narrow.hpp"
#include "sgdlab/search/sweep.hpp"

namespace sgdlab::cli {
namespace {

struct SweepArgs {
  std::string model = "cnn", sampler = "random", study, name, space, device = "auto";
  std::string objective = "val_acc";
  DataOptions data;
  BackendOptions gpu;
  int trials = 30, epochs = 20, objective_epochs = 1;
  // Integers are read as text and parsed here: CLI11 wraps -1 into 2^64 - 1 and clamps
  // what is out of range, where a seed or a count must be refused instead.
  std::string seed = "0", pack_lanes = "0", streams = "0", wave = "0";
  double heartbeat_grace = 120;
  bool prune = false, multivariate = false, quiet = false;
};

// A count where 0 means "the device's default": a whole number from 0 to INT_MAX.
int parse_count(const std::string& flag, const std::string& text) {
  int v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || text[0] == '+' || ec != std::errc() || ptr != text.data() + text.size() ||
      v < 0)
    SGDLAB_INPUT_ERROR(flag, ": expected a whole number from 0 (the default) to ", INT_MAX,
                       ", got '", text, "'");
  return v;
}

std::string percent(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100 * *v << "%";
  return s.str();
}

// The study file's folder, made if missing; a failure names the file.
void make_study_folder(const std::string& study) {
  if (is_postgres_url(study)) return;
  const std::filesystem::path folder = std::filesystem::path(study).parent_path();
  if (folder.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec)
    SGDLAB_INPUT_ERROR(
        study, ": cannot open the study database (cannot create its folder: ", ec.message(), ")");
}

// The last line of a sweep: what is done, the best trial, and trials still running
// elsewhere (the study is not finished while there are any).
// With several models, a space without `architecture` gets it over all of them.
SearchSpace with_architectures(SearchSpace space, size_t models) {
  if (models < 2 || space.has("architecture")) return space;
  std::vector<ParamSpec> params = space.params();
  ParamSpec a{"architecture", Dist::Categorical, 0, 0, {}};
  for (size_t i = 0; i < models; ++i) a.choices.push_back(double(i));
  params.push_back(a);
  return SearchSpace(params);
}

void print_summary(const SweepResult& result, Objective objective,
                   const std::vector<std::string>& models) {
  std::cout << "done: " << result.done << " trials (" << result.ran_here << " run now, "
            << std::setprecision(4) << result.seconds << " s)";
  if (result.best)
    std::cout << "; best #" << result.best->number << " " << objective_name(objective) << " "
              << format_value(objective, *result.best->value) << " test "
              << percent(result.best->attrs.count("test_acc")
                             ? std::optional<double>(std::stod(result.best->attrs.at("test_acc")))
                             : std::nullopt)
              << " lr " << result.best->params.at("lr") << " batch "
              << result.best->params.at("batch") << " momentum "
              << result.best->params.at("momentum") << " dropout "
              << result.best->params.at("dropout");
  if (result.best && models.size() > 1)
    std::cout << " model " << models.at(size_t(architecture_of(result.best->params)));
  if (result.still_running)
    std::cout << "; " << result.still_running
              << (result.still_running == 1 ? " trial still RUNNING in another worker"
                                            : " trials still RUNNING in other workers")
              << " (not done: the study is unfinished until they end)";
  std::cout << std::endl;
}

void run_sweep_command(const SweepArgs& a) {
  // A bad model fails before anything is read or written.
  const std::vector<std::string> models = architectures(a.model);
  for (const std::string& m : models) load_model(m);
  if (a.study.empty() || a.name.empty())
    SGDLAB_INPUT_ERROR("--study FILE|URL and --name NAME are required");
  const std::string study_arg = resolve_study_arg(a.study);
  const uint64_t seed = parse_uint("--seed", a.seed);
  const int pack_lanes = parse_count("--pack-lanes", a.pack_lanes);
  const int streams = parse_count("--streams", a.streams);
  const int wave = parse_count("--wave", a.wave);
  const Objective objective = parse_objective(a.objective);
  if (!(a.heartbeat_grace > 0) || !std::isfinite(a.heartbeat_grace))
    SGDLAB_INPUT_ERROR("--heartbeat-grace: expected a number of seconds > 0, got ",
                       a.heartbeat_grace);
  const SearchSpace space = with_architectures(
      a.space.empty() ? SearchSpace::study_default() : SearchSpace::from_argument(a.space),
      models.size());
  if (a.multivariate && a.sampler != "tpe")
    SGDLAB_INPUT_ERROR("--multivariate: applies to the tpe sampler only (--sampler ", a.sampler,
                       ")");
  TpeOptions tpe;
  tpe.multivariate = a.multivariate;
  auto sampler = make_sampler(a.sampler, seed, tpe);
  const UspsData data = load_data(a.data);
  // Before the study is opened: a space that no trial could train would wedge it.
  check_space_fits(space, data.train.size(),
                   a.space.empty() ? "the study's space" : SearchSpace::argument_source(a.space));
  auto main_backend = make_backend(a.device, a.gpu);
  const Device device = main_backend->device();
  SweepOptions o;
  o.model = a.model;
  o.trials = a.trials;
  o.epochs = a.epochs;
  o.pack_lanes = pack_lanes;
  o.streams = streams;
  o.wave = wave;
  o.seed = seed;
  o.prune = a.prune;
  o.objective = objective;
  o.objective_epochs = a.objective_epochs;
  o = resolve_defaults(o, device, a.sampler);
  const nlohmann::json data_id = data_identity(data, a.data);
  StopSignals signals;
  o.stop = [] { return StopSignals::received() != 0; };
  make_study_folder(study_arg);
  StudyStorage storage(study_arg, StorageMode::ReadWrite, {a.heartbeat_grace});
  bool created = false;
  const int64_t study =
      storage.open_study({a.name, a.model, a.sampler, seed, a.epochs, space.to_json()}, &created);
  storage.check_data(study, a.name, data_id);
  const DeviceData device_data(*main_backend, data,
                               validation_distortion(objective, data.train.image));
  std::cout << (created ? "new" : "resuming") << " study '" << a.name << "' in " << storage.path()
            << ": " << a.model << ", " << a.sampler << ", " << o.trials << " trials x " << o.epochs
            << " epochs on " << main_backend->describe() << " (packs of up to " << o.pack_lanes
            << " lanes, " << o.streams << " at once)" << std::endl;
  const BackendFactory factory = backends_of(device, a.gpu);
  const auto result = run_sweep(
      storage, study, space, *sampler, o, factory, device_data, [&](const SweepProgress& p) {
        std::cout << "[" << a.name << "] " << p.done << "/" << p.total << " trials | best "
                  << (p.best && p.best->value ? format_value(objective, *p.best->value) : "-")
                  << (p.best ? " (#" + std::to_string(p.best->number) + ")" : "") << " | "
                  << std::setprecision(3) << p.trials_per_second << " trials/s | " << p.event
                  << std::endl;
      });
  if (result.stopped)
    throw Interrupted(StopSignals::received(),
                      std::string("interrupted by ") + StopSignals::name(StopSignals::received()) +
                          ": " + std::to_string(result.requeued) +
                          " trial(s) it was running are WAITING again; the same command goes on");
  if (result.recovered)
    std::cout << result.recovered
              << " trial(s) left running by a stopped worker were run again (same number and "
                 "seed)\n";
  print_summary(result, objective, models);
}

struct StudyArgs {
  std::string study, name, out, choices = "mode";
  bool json = false;
  double top = 0.2;
};

// A study file that is not there is named as such (opening it read-only would say less).
void check_study_exists(const std::string& study) {
  const std::string resolved = resolve_study_arg(study);
  if (!is_postgres_url(resolved) && !std::filesystem::exists(resolved))
    SGDLAB_INPUT_ERROR(resolved, ": no such study file");
}

std::pair<int64_t, StudyInfo> find(StudyStorage& storage, const StudyArgs& a) {
  auto found = storage.find_study(a.name);
  if (!found) {
    std::string names;
    for (const auto& n : storage.study_names()) names += (names.empty() ? "" : ", ") + n;
    SGDLAB_INPUT_ERROR(storage.path(), ": no study named '", a.name,
                       "' (studies: ", names.empty() ? "none" : names, ")");
  }
  return *found;
}

nlohmann::json trial_json(const Trial& t) {
  nlohmann::json j = {{"number", t.number},    {"state", to_string(t.state)},
                      {"params", t.params},    {"intermediate", t.intermediate},
                      {"attrs", t.attrs},      {"started", t.started},
                      {"finished", t.finished}};
  j["value"] = t.value ? nlohmann::json(*t.value) : nlohmann::json(nullptr);
  return j;
}

void run_trials_command(const StudyArgs& a) {
  check_study_exists(a.study);
  StudyStorage storage(a.study, StorageMode::ReadOnly);
  const auto [id, info] = find(storage, a);
  const auto trials = storage.trials(id);
  const auto best = best_trial(trials);
  const std::string label = storage.study_attr(id, "objective").value_or("val_acc");
  const Objective objective = objective_of_label(label);
  if (a.json) {
    nlohmann::json j = {{"study", a.name},
                        {"model", info.model},
                        {"objective", label},
                        {"sampler", info.sampler},
                        {"epochs", info.epochs},
                        {"space", info.space},
                        {"trials", nlohmann::json::array()}};
    for (const auto& t : trials) j["trials"].push_back(trial_json(t));
    j["best"] = best ? trial_json(*best) : nlohmann::json(nullptr);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "study '" << a.name << "': " << info.model << ", " << info.sampler << ", "
            << info.epochs << " epochs, " << trials.size() << " trials, objective " << label
            << "\n";
  std::cout << std::setw(5) << "#" << std::setw(10) << "state" << std::setw(13) << "value"
            << std::setw(10) << "test" << std::setw(12) << "lr" << std::setw(7) << "batch"
            << std::setw(10) << "momentum" << std::setw(9) << "dropout"
            << "\n";
  for (const auto& t : trials) {
    auto param = [&](const char* k) { return t.params.count(k) ? t.params.at(k) : NAN; };
    std::optional<double> test;
    if (t.attrs.count("test_acc")) test = std::stod(t.attrs.at("test_acc"));
    std::cout << std::setw(5) << t.number << std::setw(10) << to_string(t.state) << std::setw(13)
              << (t.value ? format_value(objective, *t.value) : "-") << std::setw(10)
              << percent(test) << std::setw(12) << std::setprecision(4) << param("lr")
              << std::setw(7) << param("batch") << std::setw(10) << param("momentum")
              << std::setw(9) << param("dropout") << "\n";
  }
  // A trial that training refused says why, once, below the table.
  for (const auto& t : trials)
    if (t.attrs.count("fail_reason"))
      std::cout << "#" << t.number << " failed: " << t.attrs.at("fail_reason") << "\n";
  if (best)
    std::cout << "best: #" << best->number << " " << objective_name(objective) << " "
              << format_value(objective, *best->value) << "\n";
}

void run_narrow_command(const StudyArgs& a) {
  if (a.out.empty()) SGDLAB_INPUT_ERROR("--out FILE is required");
  if (!(a.top > 0 && a.top <= 1)) SGDLAB_INPUT_ERROR("--top: expected a fraction in (0, 1]");
  check_study_exists(a.study);
  StudyStorage storage(a.study, StorageMode::ReadOnly);
  const auto [id, info] = find(storage, a);
  const SearchSpace original = SearchSpace::from_json(info.space, storage.path());
  const Narrowing n =
      narrow(original, storage.trials(id), a.top, parse_choices(a.choices, "--choices"));
  write_file_atomic(a.out, n.to_json().dump(2) + "\n");
  std::cout << "top " << n.n_top << " of " << n.n_trials << " completed trials:\n";
  for (const auto& iv : n.intervals)
    std::cout << "  " << std::setw(9) << iv.name << "  (" << iv.low << ", " << iv.high << ")"
              << (iv.clipped_low || iv.clipped_high ? "  clipped to the original bounds" : "")
              << "\n";
  for (const auto& [name, mode] : n.modes)
    std::cout << "  " << std::setw(9) << name << "  " << mode << " (most frequent)\n";
  std::cout << "wrote " << a.out << "\n";
}

void add_study_options(CLI::App* cmd, StudyArgs& a) {
  cmd->add_option("--study", a.study,
                  "the study: a SQLite file (or sqlite:///PATH), or "
                  "postgresql://USER[:PASS]@HOST[:PORT]/DB")
      ->required();
  cmd->add_option("--name", a.name, "study name")->required();
}

}  // namespace

void register_sweep(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "random or TPE search, trials packed into lanes, stored in SQLite or PostgreSQL (any "
      "number of workers, on any number of machines, may run one study)");
  cmd->add_option("--model", a->model,
                  "a preset (mlp, cnn, lcnn) or a model file (.json); a comma list searches "
                  "over them (the space's categorical 'architecture', their indices: added "
                  "over all of them when the space has none)")
      ->default_val("cnn");
  cmd->add_option("--sampler", a->sampler, "random or tpe")->default_val("random");
  cmd->add_option("--trials", a->trials,
                  "trials in the study (a resumed study runs what is missing)")
      ->default_val(30);
  cmd->add_option("--epochs", a->epochs, "epochs per trial")->default_val(20);
  cmd->add_option("--study", a->study,
                  "the study: a SQLite file (created if absent; or sqlite:///PATH) or "
                  "postgresql://USER[:PASS]@HOST[:PORT]/DB (the password may also come from "
                  "PGPASSWORD or ~/.pgpass)")
      ->required();
  cmd->add_option("--name", a->name, "study name (resumed if it exists)")->required();
  cmd->add_option("--space", a->space,
                  "search space: a JSON file, or the JSON itself when it starts with '{' "
                  "(default: the study's space)");
  cmd->add_option("--seed", a->seed, "sampler and trial seed, 0 to 2^64-1")->default_val("0");
  add_device_option(*cmd, a->device);
  add_gpu_math_options(*cmd, a->gpu);
  add_data_options(*cmd, a->data);
  cmd->add_option("--objective", a->objective,
                  "what trials are ranked by: val_acc, val_loss, distorted_acc or distorted_loss "
                  "(the validation images under 8 fixed random shifts, rotations and scalings)")
      ->default_val("val_acc");
  cmd->add_option("--objective-epochs", a->objective_epochs,
                  "rank by the objective's mean over each trial's last K epochs")
      ->default_val(1);
  cmd->add_flag("--prune", a->prune,
                "median pruner on per-epoch validation accuracy (or loss, for a loss objective)");
  cmd->add_flag("--multivariate", a->multivariate, "multivariate TPE");
  cmd->add_option("--pack-lanes", a->pack_lanes, "most lanes per pack (0: CPU 4, GPU 32)")
      ->default_val("0");
  cmd->add_option("--streams", a->streams, "packs at once (0: CPU 1, GPU 4)")->default_val("0");
  cmd->add_option("--wave", a->wave, "trials asked together (0: random 4 x lanes x streams, tpe 8)")
      ->default_val("0");
  cmd->add_option("--heartbeat-grace", a->heartbeat_grace,
                  "seconds without a heartbeat after which another worker's RUNNING trial is "
                  "taken for lost and asked again (workers beat every grace/4 s, at most 30 s)")
      ->default_val(120);
  cmd->callback([a] { run_sweep_command(*a); });

  auto t = std::make_shared<StudyArgs>();
  CLI::App* trials = app.add_subcommand("trials", "list a study's trials and its best");
  add_study_options(trials, *t);
  trials->add_flag("--json", t->json, "as JSON");
  trials->callback([t] { run_trials_command(*t); });

  auto n = std::make_shared<StudyArgs>();
  CLI::App* narrow_cmd = app.add_subcommand("narrow", "narrow the space from a study's top trials");
  add_study_options(narrow_cmd, *n);
  narrow_cmd
      ->add_option("--out", n->out, "the narrowed space (JSON, with intervals and KDE curves)")
      ->required();
  narrow_cmd->add_option("--top", n->top, "top fraction of completed trials")->default_val(0.2);
  narrow_cmd
      ->add_option("--choices", n->choices,
                   "categorical parameters besides the batch size: mode (the most frequent "
                   "among the top trials) or seen (every choice they used)")
      ->default_val("mode");
  narrow_cmd->callback([n] { run_narrow_command(*n); });
}

}  // namespace sgdlab::cli
