// The effect experiments of one model: how initialisation, the learning rate, the
// batch size, momentum and dropout shape training around the model's tuned settings
// (the paper's section on each hyperparameter). Each experiment is cached on disk.
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "study_run.hpp"

namespace sgdlab::study {
namespace {
namespace fs = std::filesystem;

struct EffectLane {
  std::string label;
  LaneSettings settings;
  int batch;
};

// One lane of an experiment: its per-epoch rows, settings, test accuracy, the epoch it
// diverged at (0: never), and the epoch-averaged mean |gradient| (Table 2's measure).
nlohmann::json lane_result(const EffectLane& l, int batch,
                           const std::vector<std::vector<EpochStats>>& epochs, int k,
                           double test_acc) {
  nlohmann::json j = lane_rows_json(epochs, k);
  j["label"] = l.label;
  j["batch"] = batch;
  j["lr"] = l.settings.lr;
  j["momentum"] = l.settings.momentum;
  j["dropout"] = l.settings.dropout;
  j["test_acc"] = test_acc;
  int diverged_epoch = 0;
  for (size_t e = 0; e < epochs.size() && !diverged_epoch; ++e)
    if (epochs[e][k].diverged) diverged_epoch = int(e) + 1;
  j["diverged"] = diverged_epoch > 0;
  j["diverged_epoch"] = diverged_epoch;
  double g = 0;
  int counted = 0;
  for (const auto& rows_e : epochs)
    if (std::isfinite(rows_e[k].grad_mean_abs)) {
      g += rows_e[k].grad_mean_abs;
      ++counted;
    }
  j["grad_mean_abs_avg"] = counted ? g / counted : NAN;
  return j;
}

// One effect experiment: lanes grouped by batch size into packs; cached on disk.
nlohmann::json experiment(StudyContext& c, const std::string& name, const std::string& m,
                          const std::vector<EffectLane>& lanes) {
  // One file per experiment and model, named by the model's folder (a model file's path
  // made into one name).
  const std::string folder = std::filesystem::path(model_folder(c.o, m)).filename().string();
  const std::string path = c.o.out + "/effects/" + name + "-" + folder + ".json";
  if (fs::exists(path)) return read_json(path);
  c.log << "== effect: " << name << " on " << m << " (" << lanes.size() << " lanes)" << std::endl;
  std::map<int, std::vector<size_t>> by_batch;
  for (size_t i = 0; i < lanes.size(); ++i) by_batch[lanes[i].batch].push_back(i);
  nlohmann::json out = {{"experiment", name}, {"model", m}, {"lanes", nlohmann::json::array()}};
  std::vector<nlohmann::json> rows(lanes.size());
  const auto t0 = c.seconds();
  for (const auto& [batch, idx] : by_batch) {
    std::vector<LaneSettings> settings;
    for (size_t i : idx) settings.push_back(lanes[i].settings);
    TrainerOptions options{batch};  // with the tuned optimizer, as every lane's base
    options.optimizer = optimizer_of(c.report["models"][m]["final"]["params"].get<ParamValues>());
    Trainer trainer(*c.backend, *c.device_data, load_model(m), settings, options);
    std::vector<std::vector<EpochStats>> epochs;
    for (int e = 0; e < c.o.epochs; ++e) epochs.push_back(trainer.train_epoch());
    const auto test = trainer.evaluate(Split::Test);
    for (size_t k = 0; k < idx.size(); ++k)
      rows[idx[k]] = lane_result(lanes[idx[k]], batch, epochs, int(k), test[k].acc);
  }
  for (auto& r : rows) out["lanes"].push_back(r);
  out["seconds"] = c.seconds() - t0;
  fs::create_directories(c.o.out + "/effects");
  write_json(path, out);
  return out;
}

std::string short_number(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v;
  return s.str();
}

// The tuned settings with one field set to low, the tuned value, and high.
std::vector<EffectLane> vary(const LaneSettings& base, int batch, const std::string& name,
                             float LaneSettings::*field, std::pair<double, double> low_high) {
  std::vector<EffectLane> lanes;
  for (double v : {low_high.first, double(base.*field), low_high.second}) {
    LaneSettings s = base;
    s.*field = float(v);
    lanes.push_back(
        {(v == double(base.*field) ? "tuned " : "") + name + " " + short_number(v), s, batch});
  }
  return lanes;
}

}  // namespace

void run_effects(StudyContext& c, const std::string& m) {
  const nlohmann::json& fin = c.report["models"][m]["final"];
  const ParamValues tuned = fin["params"].get<ParamValues>();
  const LaneSettings base = settings_from(c, tuned, 1);
  const int batch = int(tuned.at("batch"));
  nlohmann::json& e = c.report["effects"];
  // Initialisation: slow, Xavier, fast.
  LaneSettings slow = base, fast = base;
  slow.init = fast.init = InitKind::Uniform;
  slow.init_low = -0.001f;
  slow.init_high = 0.001f;
  fast.init_low = m == "mlp" ? 10.0f : 10000.0f;
  fast.init_high = m == "mlp" ? 20.0f : 20000.0f;
  e["init"][m] = experiment(
      c, "init", m, {{"slow", slow, batch}, {"xavier", base, batch}, {"fast", fast, batch}});
  // Learning rate x {0.01, 1, 10, 100}.
  std::vector<EffectLane> lr;
  for (double f : {0.01, 1.0, 10.0, 100.0}) {
    LaneSettings s = base;
    s.lr = float(base.lr * f);
    std::ostringstream label;
    label << "lr x " << f;
    lr.push_back({label.str(), s, batch});
  }
  e["lr_scaling"][m] = experiment(c, "lr_scaling", m, lr);
  if (m == "cnn") {
    e["batch"][m] = experiment(c, "batch", m, {{"batch 8", base, 8}, {"batch 32", base, 32}});
    const auto mom = vary(base, batch, "momentum", &LaneSettings::momentum, {0.5, 0.99});
    e["momentum"][m] = experiment(c, "momentum", m, mom);
  }
  if (m == "mlp") {
    const auto drop = vary(base, batch, "dropout", &LaneSettings::dropout, {0.1, 0.99});
    e["dropout"][m] = experiment(c, "dropout", m, drop);
  }
}

}  // namespace sgdlab::study
