// The final models of one model: the chosen hyperparameters retrained with several
// seeds as one pack, their validation and test probabilities kept for the ensemble.
// Cached: a rerun with the same parameters reads final.json instead of training.
#include <filesystem>
#include <sstream>

#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/optimizer.hpp"
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "study_run.hpp"

namespace sgdlab::study {
namespace fs = std::filesystem;
namespace {

// Each seed's network as a model checkpoint (docs/checkpoints.md).
void save_final_models(const StudyContext& c, const std::string& dir, const ModelSpec& spec,
                       const Trainer& trainer, const std::vector<LaneSettings>& lanes, int batch) {
  const std::vector<float> flat = trainer.evaluated_parameters();
  for (size_t i = 0; i < lanes.size(); ++i) {
    const LaneSettings& l = lanes[i];
    save_model_checkpoint(
        dir + "/models/seed-" + std::to_string(l.seed) + ".safetensors",
        {spec, extract_lane(trainer.plan(), flat, int(i)), model_hyperparameters(l, batch),
         trainer.epochs_done(), c.data.scaling, c.data.format});
  }
}

// The `sgdlab train` command that trains these final models again, bit for bit on the
// CPU: the same settings as one pack of the same seeds. Rates as 9 significant digits,
// which give back the same float.
std::string train_command(const StudyContext& c, const std::string& m, const ParamValues& p) {
  const LaneSettings s = settings_from(c, p, 1);
  std::ostringstream cmd;
  cmd.precision(9);
  cmd << "sgdlab train --model " << m << " --epochs " << c.o.epochs << " --batch "
      << int(p.at("batch")) << recorded_flags(s, 9) << " --seed ";
  for (int i = 0; i < c.o.seeds; ++i) cmd << (i ? "," : "") << 1 + i;
  if (s.nesterov) cmd << " --nesterov";
  if (const OptimizerKind kind = optimizer_of(p); kind != OptimizerKind::Sgd)
    cmd << " --optimizer " << optimizer(kind).name();
  if (s.schedule.kind != Schedule::Constant) cmd << " --schedule " << schedule_argument(s.schedule);
  if (s.schedule.warmup) cmd << " --warmup " << s.schedule.warmup;
  if (s.augment.on()) {
    cmd << " --augment shift=" << s.augment.shift << ",rotate=" << s.augment.rotate
        << ",scale=" << s.augment.scale;
    if (s.augment.elastic())
      cmd << ",alpha=" << s.augment.elastic_alpha << ",sigma=" << s.augment.elastic_sigma;
  }
  if (!c.o.data_options.dir.empty()) cmd << " --data " << c.o.data_options.dir;
  return cmd.str();
}

// The final models' probabilities with test-time shifts, when the preset asks for them
// and final.json does not have them yet (also for a study whose final models were trained
// before the shifts existed).
void add_tta(StudyContext& c, const std::string& m, nlohmann::json& j) {
  const std::string dir = model_folder(c.o, m);
  const bool have = j.contains("tta") && j["tta"].value("shift", 0) == c.o.tta_shift &&
                    fs::exists(dir + "/final_val_probs_tta.f32") &&
                    fs::exists(dir + "/final_test_probs_tta.f32");
  if (c.o.tta_shift == 0 || have) return;
  c.log << "== " << m << ": final models with test-time shifts of " << c.o.tta_shift << " pixel"
        << (c.o.tta_shift == 1 ? "" : "s") << std::endl;
  j["tta"] = tta_figures(c, m, j);
  write_json(dir + "/final.json", j);
}

}  // namespace

nlohmann::json final_models(StudyContext& c, const std::string& m, const ParamValues& params,
                            const std::string& source) {
  const std::string dir = model_folder(c.o, m);
  const std::string path = dir + "/final.json";
  if (fs::exists(path) && fs::exists(dir + "/final_val_probs.f32")) {
    nlohmann::json j = read_json(path);
    if (j["params"].get<ParamValues>() == params) {
      c.log << "== " << m << ": final models already trained" << std::endl;
      add_tta(c, m, j);
      return j;
    }
  }
  c.log << "== " << m << ": final " << source << " hyperparameters, " << c.o.seeds << " seeds"
        << std::endl;
  std::vector<LaneSettings> lanes;
  nlohmann::json seeds = nlohmann::json::array();
  for (int i = 0; i < c.o.seeds; ++i) {
    lanes.push_back(settings_from(c, params, 1 + uint64_t(i)));
    seeds.push_back(1 + i);
  }
  const auto t0 = c.seconds();
  const ModelSpec spec = load_model(m);
  TrainerOptions options{int(params.at("batch"))};
  options.optimizer = optimizer_of(params);
  Trainer trainer(*c.backend, *c.device_data, spec, lanes, options);
  std::vector<std::vector<EpochStats>> epochs;
  for (int e = 0; e < c.o.epochs; ++e) epochs.push_back(trainer.train_epoch());
  const auto test = trainer.evaluate(Split::Test);
  write_floats(dir + "/final_val_probs.f32", trainer.probabilities(Split::Val));
  write_floats(dir + "/final_test_probs.f32", trainer.probabilities(Split::Test));
  save_final_models(c, dir, spec, trainer, lanes, int(params.at("batch")));
  std::vector<double> val_acc, test_acc;
  nlohmann::json lanes_json = nlohmann::json::array();
  for (int i = 0; i < c.o.seeds; ++i) {
    val_acc.push_back(epochs.back()[i].val_acc);
    test_acc.push_back(test[i].acc);
    lanes_json.push_back(lane_rows_json(epochs, i));
  }
  nlohmann::json j = {{"source", source},
                      {"command", train_command(c, m, params)},
                      {"params", params},
                      {"seeds", seeds},
                      {"val_acc", val_acc},
                      {"test_acc", test_acc},
                      {"val_mean", mean(val_acc)},
                      {"val_std", sample_std(val_acc)},
                      {"test_mean", mean(test_acc)},
                      {"test_std", sample_std(test_acc)},
                      {"lanes", lanes_json},
                      {"seconds", c.seconds() - t0}};
  write_json(path, j);
  add_tta(c, m, j);
  return j;
}

}  // namespace sgdlab::study
