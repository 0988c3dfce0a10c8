#pragma once
// What one run of the study shares between its stages, and the stages themselves, one
// file each: the searches of a model (stage_search.cpp), its final models
// (stage_final.cpp), the ensemble (stage_ensemble.cpp) and the effect experiments
// (stage_effects.cpp). study.cpp runs them in order. Private to host/study.
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "sgdlab/search/space.hpp"
#include "sgdlab/search/storage.hpp"
#include "sgdlab/study/study.hpp"

namespace sgdlab::study {

struct StudyContext {
  using clock = std::chrono::steady_clock;

  StudyContext(const StudyOptions& options, std::ostream& log_stream)
      : o(options), log(log_stream), start(clock::now()) {}
  // Seconds since the run started.
  double seconds() const { return std::chrono::duration<double>(clock::now() - start).count(); }

  StudyOptions o;
  std::ostream& log;
  clock::time_point start;
  UspsData data;
  nlohmann::json data_identity;  // engine/data_identity.hpp: each sweep checks it
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeviceData> device_data;
  std::unique_ptr<StudyStorage> storage;
  nlohmann::json report;
  std::map<std::string, double> stage_seconds;  // per sweep name, over every run of it
};

// Coarse random search, narrowing, TPE in the narrowed space, then the final models of
// the better of the two best trials; fills report["models"][model].
void run_searches(StudyContext& c, const std::string& model);
// The chosen hyperparameters retrained with o.seeds seeds as one pack (cached on disk).
nlohmann::json final_models(StudyContext& c, const std::string& model, const ParamValues& params,
                            const std::string& source);
// Beyond the paper: each final model's probabilities with test-time shifts
// (engine/tta.hpp), from its saved checkpoint, written beside the plain ones
// (final_{val,test}_probs_tta.f32). Returns, per seed, the validation errors without and
// with the shifts and the test accuracy with them, and whether the ensemble uses them:
// only when they make fewer validation errors over all seeds.
nlohmann::json tta_figures(StudyContext& c, const std::string& model, const nlohmann::json& final);
// The final probabilities the ensemble reads for `model`: "_tta" when tta_figures chose
// the shifts, else "".
std::string ensemble_probs_suffix(const nlohmann::json& final);
// Per seed index, the three models' final probabilities combined with weights chosen on
// validation; fills report["ensemble"].
void run_ensemble(StudyContext& c);
// Initialisation, learning-rate scaling, batch size, momentum and dropout experiments
// around a model's tuned settings; fills report["effects"].
void run_effects(StudyContext& c, const std::string& model);

// Shared by the stages.
// The folder of a model's files under --out: a preset's name; a model file's path made
// into one folder name (data/models/cnn-bn.json: data_models_cnn-bn.json), so that no
// path leads outside --out. A study that put a model file's files under its path (before
// this rule) keeps that folder where it exists and stays inside --out.
std::string model_folder(const StudyOptions& o, const std::string& model);
// A trial's parameters as a lane's settings (search/lane_params.hpp), for this study.
LaneSettings settings_from(const StudyContext& c, const ParamValues& p, uint64_t seed);
// The space the study searches: the paper's, or with the options beyond it.
SearchSpace study_space(const StudyOptions& o);
// One lane's per-epoch train loss, validation accuracy and loss, gradient statistics
// and seconds.
nlohmann::json lane_rows_json(const std::vector<std::vector<EpochStats>>& epochs, int lane);
nlohmann::json read_json(const std::string& path);
void write_json(const std::string& path, const nlohmann::json& j);
// Raw float32 files for the final models' probabilities.
void write_floats(const std::string& path, const std::vector<float>& v);
std::vector<float> read_floats(const std::string& path);
// Lane i of probabilities [n, lanes, classes] (a pack's, sample-major) as [n, classes].
std::vector<float> lane_probabilities(const std::vector<float>& p, size_t n, int lanes, int i,
                                      int classes);

}  // namespace sgdlab::study
