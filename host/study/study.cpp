#include "sgdlab/study/study.hpp"
#include "sgdlab/engine/build_info.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/search/narrow.hpp"
#include "sgdlab/search/sweep.hpp"
#include "sgdlab/study/ensemble.hpp"

namespace sgdlab {
namespace fs = std::filesystem;

StudyOptions resolve_preset(StudyOptions o) {
  struct Preset {
    int coarse, fine, epochs, seeds;
  };
  const std::map<std::string, Preset> presets = {{"paper", {30, 20, 20, 5}},
                                                 {"quick", {8, 6, 5, 2}}};
  const auto it = presets.find(o.preset);
  if (it == presets.end())
    SGDLAB_INPUT_ERROR("--preset: expected paper or quick, got '", o.preset, "'");
  if (o.coarse == 0) o.coarse = it->second.coarse;
  if (o.fine == 0) o.fine = it->second.fine;
  if (o.epochs == 0) o.epochs = it->second.epochs;
  if (o.seeds == 0) o.seeds = it->second.seeds;
  for (int v : {o.coarse, o.fine, o.epochs, o.seeds})
    if (v <= 0) SGDLAB_INPUT_ERROR("--coarse, --fine, --epochs and --seeds must be > 0");
  if (o.models.empty()) SGDLAB_INPUT_ERROR("--models: expected at least one of mlp, cnn, lcnn");
  for (const auto& m : o.models) model_preset(m);
  if (o.out.empty()) SGDLAB_INPUT_ERROR("--out DIR is required");
  return o;
}

namespace {

LaneSettings settings_from(const ParamValues& p, uint64_t seed) {
  return {float(p.at("lr")), float(p.at("momentum")), float(p.at("dropout")), seed};
}

nlohmann::json trial_summary(const Trial& t) {
  nlohmann::json j = {{"number", t.number},
                      {"state", to_string(t.state)},
                      {"params", t.params},
                      {"intermediate", t.intermediate}};
  j["value"] = t.value ? nlohmann::json(*t.value) : nlohmann::json(nullptr);
  j["test_acc"] = t.attrs.count("test_acc") ? nlohmann::json(std::stod(t.attrs.at("test_acc")))
                                            : nlohmann::json(nullptr);
  return j;
}

nlohmann::json lane_rows_json(const std::vector<std::vector<EpochStats>>& epochs, int lane) {
  nlohmann::json j;
  for (const auto& rows : epochs) {
    const EpochStats& r = rows[lane];
    j["train_loss"].push_back(r.train_loss);
    j["val_acc"].push_back(r.val_acc);
    j["val_loss"].push_back(r.val_loss);
    j["grad_mean_abs"].push_back(r.grad_mean_abs);
    j["grad_l2"].push_back(r.grad_l2);
    j["seconds"].push_back(r.seconds);
  }
  return j;
}

// Raw float32 files for the final models' probabilities.
void write_floats(const std::string& path, const std::vector<float>& v) {
  write_file_atomic(path,
                    std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
}
std::vector<float> read_floats(const std::string& path) {
  const std::string bytes = read_text_file(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_text_file(path));
}
void write_json(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

class StudyRun {
 public:
  StudyRun(const StudyOptions& o, std::ostream& log) : o_(o), log_(log), start_(clock::now()) {}

  nlohmann::json run() {
    // Bad data, a missing GPU or a folder holding another study stop the study before
    // anything is written.
    data_ = load_usps({o_.data});
    backend_ = make_backend(o_.device, &log_);
    check_config();
    device_data_ = std::make_unique<DeviceData>(*backend_, data_);
    storage_ = std::make_unique<StudyStorage>(o_.out + "/study.db");
    report_["config"] = config_json();
    report_["device"] = backend_->describe();
    for (const auto& m : o_.models) run_model(m);
    run_ensemble();
    for (const auto& m : o_.models) run_effects(m);
    report_["seconds"] = seconds();
    write_json(o_.out + "/report.json", report_);
    write_file_atomic(o_.out + "/report.md", render_report_markdown(report_));
    log_ << "wrote " << o_.out << "/report.md and report.json (" << seconds() << " s)" << std::endl;
    if (o_.figures) make_figures();
    return report_;
  }

 private:
  using clock = std::chrono::steady_clock;
  double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

  nlohmann::json config_json() const {
    return {{"models", o_.models},       {"preset", o_.preset},
            {"coarse", o_.coarse},       {"fine", o_.fine},
            {"epochs", o_.epochs},       {"seeds", o_.seeds},
            {"seed", o_.seed},           {"ensemble_draws", o_.ensemble_draws},
            {"version", build_version()}};
  }

  // A folder holds one study: resuming with other settings would mix results.
  void check_config() {
    const std::string path = o_.out + "/config.json";
    const nlohmann::json now = config_json();
    if (fs::exists(path)) {
      nlohmann::json before = read_json(path);
      before.erase("version");
      nlohmann::json cmp = now;
      cmp.erase("version");
      if (before != cmp)
        SGDLAB_INPUT_ERROR(o_.out, " holds a study with other settings (", before.dump(),
                           "); use another --out or the same settings to resume");
      log_ << "resuming the study in " << o_.out << std::endl;
    }
    fs::create_directories(o_.out);
    write_json(path, now);
  }

  // Each model draws its own trials: the sweep seed depends on the model.
  uint64_t sweep_seed(const std::string& model) const {
    const std::vector<std::string> all = model_preset_names();
    return o_.seed * 1000 + uint64_t(std::find(all.begin(), all.end(), model) - all.begin());
  }

  SweepResult sweep(const std::string& model, const std::string& name, const std::string& sampler,
                    const SearchSpace& space, int trials) {
    const uint64_t seed = sweep_seed(model);
    auto s = make_sampler(sampler, seed);
    const int64_t id =
        storage_->open_study({name, model, sampler, seed, o_.epochs, space.to_json()});
    SweepOptions so;
    so.model = model;
    so.trials = trials;
    so.epochs = o_.epochs;
    so.seed = seed;
    so = resolve_defaults(so, backend_->device(), sampler);
    const auto t0 = seconds();
    auto r = run_sweep(*storage_, id, space, *s, so, backends_of(backend_->device()), *device_data_,
                       [&](const SweepProgress& p) {
                         log_ << "  [" << name << "] " << p.done << "/" << p.total
                              << " trials, best "
                              << (p.best && p.best->value ? 100 * *p.best->value : NAN) << "% | "
                              << p.event << std::endl;
                       });
    // The seconds of every run that worked on this sweep, kept with the study.
    const double before = std::stod(storage_->study_attr(id, "seconds").value_or("0"));
    const double total = before + seconds() - t0;
    storage_->set_study_attr(id, "seconds", std::to_string(total));
    stage_seconds_[name] = total;
    return r;
  }

  nlohmann::json sweep_json(const std::string& name) {
    const auto found = storage_->find_study(name);
    const auto trials = storage_->trials(found->first);
    nlohmann::json j = {{"trials", nlohmann::json::array()}};
    for (const auto& t : trials) j["trials"].push_back(trial_summary(t));
    const auto best = best_trial(trials);
    j["best"] = best ? trial_summary(*best) : nlohmann::json(nullptr);
    if (stage_seconds_.count(name)) j["seconds"] = stage_seconds_.at(name);
    return j;
  }

  void run_model(const std::string& m) {
    log_ << "== " << m << ": coarse random search (" << o_.coarse << " trials x " << o_.epochs
         << " epochs)" << std::endl;
    const SearchSpace space = SearchSpace::study_default();
    sweep(m, m + "-coarse", "random", space, o_.coarse);
    const auto coarse_trials = storage_->trials(storage_->find_study(m + "-coarse")->first);
    const Narrowing n = narrow(space, coarse_trials);
    fs::create_directories(o_.out + "/" + m);
    write_json(o_.out + "/" + m + "/narrowed_space.json", n.to_json());
    log_ << "== " << m << ": TPE in the narrowed space (" << o_.fine << " trials)" << std::endl;
    sweep(m, m + "-fine", "tpe", n.space, o_.fine);

    nlohmann::json& mj = report_["models"][m];
    mj["coarse"] = sweep_json(m + "-coarse");
    mj["fine"] = sweep_json(m + "-fine");
    mj["narrowing"] = n.to_json();
    mj["correlations"] = correlations(coarse_trials);
    // The better of the two best trials on validation (the paper kept the LCNN's coarse one).
    const bool fine_better =
        !mj["fine"]["best"].is_null() &&
        (mj["coarse"]["best"].is_null() ||
         mj["fine"]["best"]["value"].get<double>() > mj["coarse"]["best"]["value"].get<double>());
    const nlohmann::json chosen = fine_better ? mj["fine"]["best"] : mj["coarse"]["best"];
    if (chosen.is_null()) SGDLAB_THROW("no finished trial for ", m);
    mj["final"] =
        final_models(m, chosen["params"].get<ParamValues>(), fine_better ? "fine" : "coarse");
  }

  nlohmann::json correlations(const std::vector<Trial>& trials) {
    std::vector<double> acc, lr, mom, drop, batch;
    for (const auto& t : trials) {
      if (!t.finished_ok() || !t.value || !std::isfinite(*t.value)) continue;
      acc.push_back(*t.value);
      lr.push_back(std::log10(t.params.at("lr")));
      mom.push_back(t.params.at("momentum"));
      drop.push_back(t.params.at("dropout"));
      batch.push_back(std::log2(t.params.at("batch")));
    }
    auto r = [&](const std::vector<double>& x) {
      const double v = acc.size() >= 3 ? pearson(x, acc) : NAN;
      return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    };
    return {{"n", acc.size()},
            {"log10_lr", r(lr)},
            {"momentum", r(mom)},
            {"dropout", r(drop)},
            {"log2_batch", r(batch)}};
  }

  // The chosen hyperparameters retrained with o_.seeds seeds as one pack.
  nlohmann::json final_models(const std::string& m, const ParamValues& params,
                              const std::string& source) {
    const std::string dir = o_.out + "/" + m;
    const std::string path = dir + "/final.json";
    if (fs::exists(path) && fs::exists(dir + "/final_val_probs.f32")) {
      nlohmann::json j = read_json(path);
      if (j["params"].get<ParamValues>() == params) {
        log_ << "== " << m << ": final models already trained" << std::endl;
        return j;
      }
    }
    log_ << "== " << m << ": final " << source << " hyperparameters, " << o_.seeds << " seeds"
         << std::endl;
    std::vector<LaneSettings> lanes;
    nlohmann::json seeds = nlohmann::json::array();
    for (int i = 0; i < o_.seeds; ++i) {
      lanes.push_back(settings_from(params, 1 + uint64_t(i)));
      seeds.push_back(1 + i);
    }
    const auto t0 = seconds();
    Trainer trainer(*backend_, *device_data_, model_preset(m), lanes, {int(params.at("batch"))});
    std::vector<std::vector<EpochStats>> epochs;
    for (int e = 0; e < o_.epochs; ++e) epochs.push_back(trainer.train_epoch());
    const auto test = trainer.evaluate(Split::Test);
    write_floats(dir + "/final_val_probs.f32", trainer.probabilities(Split::Val));
    write_floats(dir + "/final_test_probs.f32", trainer.probabilities(Split::Test));
    std::vector<double> val_acc, test_acc;
    nlohmann::json lanes_json = nlohmann::json::array();
    for (int i = 0; i < o_.seeds; ++i) {
      val_acc.push_back(epochs.back()[i].val_acc);
      test_acc.push_back(test[i].acc);
      lanes_json.push_back(lane_rows_json(epochs, i));
    }
    nlohmann::json j = {{"source", source},
                        {"params", params},
                        {"seeds", seeds},
                        {"val_acc", val_acc},
                        {"test_acc", test_acc},
                        {"val_mean", mean(val_acc)},
                        {"val_std", sample_std(val_acc)},
                        {"test_mean", mean(test_acc)},
                        {"test_std", sample_std(test_acc)},
                        {"lanes", lanes_json},
                        {"seconds", seconds() - t0}};
    write_json(path, j);
    return j;
  }

  // Per seed index i, the three models' lane-i probabilities are combined.
  void run_ensemble() {
    for (const char* m : {"mlp", "cnn", "lcnn"})
      if (!report_["models"].contains(m)) {
        report_["ensemble"] = nullptr;
        return;
      }
    log_ << "== ensemble: " << o_.ensemble_draws << " weight draws per seed, chosen on validation"
         << std::endl;
    const int classes = 10;
    const size_t nv = data_.val.size(), nt = data_.test.size();
    std::map<std::string, std::vector<float>> val, test;
    for (const char* m : {"mlp", "cnn", "lcnn"}) {
      val[m] = read_floats(o_.out + "/" + m + "/final_val_probs.f32");
      test[m] = read_floats(o_.out + "/" + m + "/final_test_probs.f32");
    }
    // Probabilities are [n, seeds, classes]: lane i of sample r at (r * seeds + i) * classes.
    auto lane = [&](const std::vector<float>& p, size_t n, int i) {
      std::vector<float> out(n * classes);
      for (size_t r = 0; r < n; ++r)
        std::copy_n(p.begin() + (r * o_.seeds + i) * classes, classes, out.begin() + r * classes);
      return out;
    };
    nlohmann::json per_seed = nlohmann::json::array();
    std::vector<double> test_acc;
    for (int i = 0; i < o_.seeds; ++i) {
      std::vector<std::vector<float>> vp, tp;
      for (const char* m : {"mlp", "cnn", "lcnn"}) {
        vp.push_back(lane(val[m], nv, i));
        tp.push_back(lane(test[m], nt, i));
      }
      const WeightSearch w = search_weights(vp, data_.val.y, tp, data_.test.y, classes,
                                            o_.ensemble_draws, o_.seed + i);
      test_acc.push_back(w.test_acc);
      nlohmann::json sj = {
          {"seed_index", i},
          {"weights", {{"mlp", w.weights[0]}, {"cnn", w.weights[1]}, {"lcnn", w.weights[2]}}},
          {"val_acc", w.val_acc},
          {"test_acc", w.test_acc}};
      if (i == 0) {
        report_["ensemble_confusion"] =
            confusion_matrix(vote(tp, w.weights, classes), data_.test.y, classes);
        sj["draws"] = w.draws;
      }
      per_seed.push_back(sj);
    }
    report_["ensemble"] = {
        {"per_seed", per_seed}, {"test_mean", mean(test_acc)}, {"test_std", sample_std(test_acc)}};
  }

  struct EffectLane {
    std::string label;
    LaneSettings settings;
    int batch;
  };

  // One effect experiment: lanes grouped by batch size into packs; cached on disk.
  nlohmann::json experiment(const std::string& name, const std::string& m,
                            const std::vector<EffectLane>& lanes) {
    const std::string path = o_.out + "/effects/" + name + "-" + m + ".json";
    if (fs::exists(path)) return read_json(path);
    log_ << "== effect: " << name << " on " << m << " (" << lanes.size() << " lanes)" << std::endl;
    std::map<int, std::vector<size_t>> by_batch;
    for (size_t i = 0; i < lanes.size(); ++i) by_batch[lanes[i].batch].push_back(i);
    nlohmann::json out = {{"experiment", name}, {"model", m}, {"lanes", nlohmann::json::array()}};
    std::vector<nlohmann::json> rows(lanes.size());
    const auto t0 = seconds();
    for (const auto& [batch, idx] : by_batch) {
      std::vector<LaneSettings> settings;
      for (size_t i : idx) settings.push_back(lanes[i].settings);
      Trainer trainer(*backend_, *device_data_, model_preset(m), settings, {batch});
      std::vector<std::vector<EpochStats>> epochs;
      for (int e = 0; e < o_.epochs; ++e) epochs.push_back(trainer.train_epoch());
      const auto test = trainer.evaluate(Split::Test);
      for (size_t k = 0; k < idx.size(); ++k) {
        const EffectLane& l = lanes[idx[k]];
        nlohmann::json j = lane_rows_json(epochs, int(k));
        j["label"] = l.label;
        j["batch"] = batch;
        j["lr"] = l.settings.lr;
        j["momentum"] = l.settings.momentum;
        j["dropout"] = l.settings.dropout;
        j["test_acc"] = test[k].acc;
        int diverged_epoch = 0;
        for (size_t e = 0; e < epochs.size() && !diverged_epoch; ++e)
          if (epochs[e][k].diverged) diverged_epoch = int(e) + 1;
        j["diverged"] = diverged_epoch > 0;
        j["diverged_epoch"] = diverged_epoch;
        // The epoch-averaged mean |gradient| over the run (Table 2's measure).
        double g = 0;
        int counted = 0;
        for (const auto& rows_e : epochs)
          if (std::isfinite(rows_e[k].grad_mean_abs)) {
            g += rows_e[k].grad_mean_abs;
            ++counted;
          }
        j["grad_mean_abs_avg"] = counted ? g / counted : NAN;
        rows[idx[k]] = j;
      }
    }
    for (auto& r : rows) out["lanes"].push_back(r);
    out["seconds"] = seconds() - t0;
    fs::create_directories(o_.out + "/effects");
    write_json(path, out);
    return out;
  }

  void run_effects(const std::string& m) {
    const nlohmann::json& fin = report_["models"][m]["final"];
    const ParamValues tuned = fin["params"].get<ParamValues>();
    const LaneSettings base = settings_from(tuned, 1);
    const int batch = int(tuned.at("batch"));
    nlohmann::json& e = report_["effects"];
    // Initialisation: slow, Xavier, fast.
    LaneSettings slow = base, fast = base;
    slow.init = fast.init = InitKind::Uniform;
    slow.init_low = -0.001f;
    slow.init_high = 0.001f;
    fast.init_low = m == "mlp" ? 10.0f : 10000.0f;
    fast.init_high = m == "mlp" ? 20.0f : 20000.0f;
    e["init"][m] = experiment(
        "init", m, {{"slow", slow, batch}, {"xavier", base, batch}, {"fast", fast, batch}});
    // Learning rate x {0.01, 1, 10, 100}.
    std::vector<EffectLane> lr;
    for (double f : {0.01, 1.0, 10.0, 100.0}) {
      LaneSettings s = base;
      s.lr = float(base.lr * f);
      std::ostringstream label;
      label << "lr x " << f;
      lr.push_back({label.str(), s, batch});
    }
    e["lr_scaling"][m] = experiment("lr_scaling", m, lr);
    if (m == "cnn") {
      e["batch"][m] = experiment("batch", m, {{"batch 8", base, 8}, {"batch 32", base, 32}});
      const auto mom = vary(base, batch, "momentum", &LaneSettings::momentum, {0.5, 0.99});
      e["momentum"][m] = experiment("momentum", m, mom);
    }
    if (m == "mlp") {
      const auto drop = vary(base, batch, "dropout", &LaneSettings::dropout, {0.1, 0.99});
      e["dropout"][m] = experiment("dropout", m, drop);
    }
  }

  // The tuned settings with one field set to low, the tuned value, and high.
  static std::vector<EffectLane> vary(const LaneSettings& base, int batch, const std::string& name,
                                      float LaneSettings::*field,
                                      std::pair<double, double> low_high) {
    std::vector<EffectLane> lanes;
    for (double v : {low_high.first, double(base.*field), low_high.second}) {
      LaneSettings s = base;
      s.*field = float(v);
      lanes.push_back(
          {(v == double(base.*field) ? "tuned " : "") + name + " " + short_number(v), s, batch});
    }
    return lanes;
  }

  static std::string short_number(double v) {
    std::ostringstream s;
    s.precision(3);
    s << v;
    return s.str();
  }

  void make_figures() {
    const std::string script = std::string(build_source_dir()) + "/tools/figures.py";
    const std::string python = "/usr/bin/python3";
    const std::string cmd = python + " " + script + " " + o_.out;
    if (!fs::exists(python) || !fs::exists(script) ||
        std::system((python + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) != 0) {
      log_ << "figures: matplotlib for " << python << " is not installed; make them later with\n  "
           << cmd << "   (apt-get install python3-matplotlib)" << std::endl;
      return;
    }
    log_ << "figures: " << cmd << std::endl;
    if (std::system(cmd.c_str()) != 0)
      log_ << "figures: the script failed; rerun: " << cmd << std::endl;
  }

  StudyOptions o_;
  std::ostream& log_;
  clock::time_point start_;
  UspsData data_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<DeviceData> device_data_;
  std::unique_ptr<StudyStorage> storage_;
  nlohmann::json report_;
  std::map<std::string, double> stage_seconds_;
};

}  // namespace

nlohmann::json run_study(const StudyOptions& options, std::ostream& log) {
  return StudyRun(resolve_preset(options), log).run();
}

}  // namespace sgdlab
