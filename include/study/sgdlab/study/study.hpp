#pragma once
// sgdlab study: the paper's whole pipeline in one call. Per model: coarse random
// search, narrowing from the top 20%, TPE in the narrowed space, the better of the two
// retrained with several seeds. Then the ensemble, the effect experiments, and a report
// (report.json, report.md; the figures are drawn from report.json by tools/figures.py,
// which the CLI runs). Every finished stage is stored under the output folder, so
// running the same command again continues where it stopped.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "sgdlab/engine/data.hpp"

namespace sgdlab {

// An empty or zero field is the preset's (resolve_preset fills it).
struct StudyOptions {
  // The paper's mlp, cnn, lcnn; the record preset's cnn and two model files.
  std::vector<std::string> models;
  // paper: 30 coarse, 20 fine, 20 epochs, 5 seeds; quick: 8, 6, 5, 2; beyond and record:
  // 30, 20, 40, 5.
  std::string preset = "paper";
  int coarse = 0, fine = 0, epochs = 0, seeds = 0;  // 0: from the preset
  std::string device = "auto";
  DataOptions data_options;  // --data and how to read it
  std::string out;
  uint64_t seed = 0;
  int ensemble_draws = 100;
  // Test-time shift in pixels for the ensemble's probabilities (engine/tta.hpp); 0: off.
  // Set by the preset (beyond and record: 1), so a study's config.json names it through
  // its preset.
  int tta_shift = 0;
  // What the searches rank trials by (search/objective.hpp): val_acc, val_loss,
  // distorted_acc or distorted_loss; ranked by its mean over the last objective_epochs.
  // The record preset's: distorted_acc over 5 epochs; the others': val_acc over 1.
  std::string objective;
  int objective_epochs = 0;
  // What narrowing keeps of categorical parameters besides the batch size
  // (search/narrow.hpp): "mode" (the paper's rule; the other presets') or "seen" (the
  // record preset's).
  std::string narrow_choices;
  // A search space (a file, or the JSON itself) instead of the preset's; empty: the
  // preset's. Its content is kept in config.json.
  std::string space;
  // A `paper` preset study's report.json, whose final figures the report sets beside
  // this study's (optional).
  std::string baseline;
};

// The record preset's default models: the paper's CNN, cnn-bn and cnn-deep (model files
// under data/models/, relative to the working folder).
std::vector<std::string> record_models();

// Whether the preset runs the paper's effect experiments (record does not: its stages
// are the searches, the final models and the ensemble).
bool preset_runs_effects(const std::string& preset);

// Fills what the preset sets; throws InputError for a bad preset or count.
StudyOptions resolve_preset(StudyOptions options);

// Runs (or resumes) the study; progress goes to `log`. Returns report.json's content.
nlohmann::json run_study(const StudyOptions& options, std::ostream& log);

// report.md from report.json's content.
std::string render_report_markdown(const nlohmann::json& report);

}  // namespace sgdlab
