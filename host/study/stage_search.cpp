// The searches of one model: a coarse random search in the study's space, narrowing
// from its top 20%, TPE in the narrowed space; then the final models of the better of
// the two best trials on validation (the paper kept the LCNN's coarse one).
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/devices.hpp"
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/search/narrow.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/sweep.hpp"
#include "study_run.hpp"

namespace sgdlab::study {
namespace {
namespace fs = std::filesystem;

nlohmann::json trial_summary(const Trial& t) {
  nlohmann::json j = {{"number", t.number},
                      {"state", to_string(t.state)},
                      {"params", t.params},
                      {"intermediate", t.intermediate}};
  j["value"] = t.value ? nlohmann::json(*t.value) : nlohmann::json(nullptr);
  auto attr = [&](const char* key) {
    return t.attrs.count(key) ? nlohmann::json(std::stod(t.attrs.at(key)))
                              : nlohmann::json(nullptr);
  };
  j["test_acc"] = attr("test_acc");
  // The value is the objective's; these say what it was on each validation set.
  for (const char* key : {"val_acc", "val_loss", "distorted_acc", "distorted_loss"})
    if (t.attrs.count(key)) j[key] = attr(key);
  return j;
}

// Each model draws its own trials: the sweep seed depends on the model.
uint64_t sweep_seed(const StudyContext& c, const std::string& model) {
  // A preset keeps its place whatever the list; a model file comes after the presets.
  const std::vector<std::string> presets = model_preset_names();
  const auto preset = std::find(presets.begin(), presets.end(), model);
  const size_t index =
      preset != presets.end()
          ? size_t(preset - presets.begin())
          : presets.size() +
                size_t(std::find(c.o.models.begin(), c.o.models.end(), model) - c.o.models.begin());
  return c.o.seed * 1000 + uint64_t(index);
}

SweepResult sweep(StudyContext& c, const std::string& model, const std::string& name,
                  const std::string& sampler, const SearchSpace& space, int trials) {
  const uint64_t seed = sweep_seed(c, model);
  auto s = make_sampler(sampler, seed);
  const int64_t id =
      c.storage->open_study({name, model, sampler, seed, c.o.epochs, space.to_json()});
  c.storage->check_data(id, name, c.data_identity);
  SweepOptions so;
  so.model = model;
  so.trials = trials;
  so.epochs = c.o.epochs;
  so.seed = seed;
  so.objective = parse_objective(c.o.objective);
  so.objective_epochs = c.o.objective_epochs;
  so = resolve_defaults(so, c.backend->device(), sampler);
  const auto t0 = c.seconds();
  auto r = run_sweep(
      *c.storage, id, space, *s, so, backends_of(c.backend->device()), *c.device_data,
      [&](const SweepProgress& p) {
        c.log << "  [" << name << "] " << p.done << "/" << p.total << " trials, best "
              << (p.best && p.best->value ? format_value(so.objective, *p.best->value) : "-")
              << " | " << p.event << std::endl;
      });
  // The seconds of every run that worked on this sweep, kept with the study.
  const double before = std::stod(c.storage->study_attr(id, "seconds").value_or("0"));
  const double total = before + c.seconds() - t0;
  c.storage->set_study_attr(id, "seconds", std::to_string(total));
  c.stage_seconds[name] = total;
  return r;
}

nlohmann::json sweep_json(const StudyContext& c, const std::string& name) {
  const auto found = c.storage->find_study(name);
  const auto trials = c.storage->trials(found->first);
  nlohmann::json j = {{"trials", nlohmann::json::array()}};
  for (const auto& t : trials) j["trials"].push_back(trial_summary(t));
  const auto best = best_trial(trials);
  j["best"] = best ? trial_summary(*best) : nlohmann::json(nullptr);
  if (c.stage_seconds.count(name)) j["seconds"] = c.stage_seconds.at(name);
  return j;
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

}  // namespace

void run_searches(StudyContext& c, const std::string& m) {
  c.log << "== " << m << ": coarse random search (" << c.o.coarse << " trials x " << c.o.epochs
        << " epochs)" << std::endl;
  const SearchSpace space = study_space(c.o);
  sweep(c, m, m + "-coarse", "random", space, c.o.coarse);
  const auto coarse_trials = c.storage->trials(c.storage->find_study(m + "-coarse")->first);
  const Narrowing n =
      narrow(space, coarse_trials, 0.2, parse_choices(c.o.narrow_choices, "--narrow-choices"));
  fs::create_directories(model_folder(c.o, m));
  write_json(model_folder(c.o, m) + "/narrowed_space.json", n.to_json());
  c.log << "== " << m << ": TPE in the narrowed space (" << c.o.fine << " trials)" << std::endl;
  sweep(c, m, m + "-fine", "tpe", n.space, c.o.fine);

  nlohmann::json& mj = c.report["models"][m];
  mj["coarse"] = sweep_json(c, m + "-coarse");
  mj["fine"] = sweep_json(c, m + "-fine");
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
      final_models(c, m, chosen["params"].get<ParamValues>(), fine_better ? "fine" : "coarse");
}

}  // namespace sgdlab::study
