// sgdlab study: the paper's whole pipeline (include/study/sgdlab/study/study.hpp), then
// its figures (figures.hpp).
#include <iostream>
#include <sstream>

#include "common.hpp"
#include "figures.hpp"
#include "sgdlab/study/study.hpp"

namespace sgdlab::cli {

void register_study(CLI::App& app) {
  auto o = std::make_shared<StudyOptions>();
  auto models = std::make_shared<std::string>();
  auto no_figures = std::make_shared<bool>(false);
  auto python = std::make_shared<std::string>();
  // Read as text: CLI11 would wrap -1 into 2^64 - 1.
  auto seed = std::make_shared<std::string>("0");
  CLI::App* cmd = app.add_subcommand(
      "study",
      "the paper's pipeline: coarse search, narrowing, TPE, final seeds, ensemble, effect "
      "experiments, report (re-running resumes)");
  auto models_option = cmd->add_option(
      "--models", *models,
      "comma list of presets (mlp, cnn, lcnn) or model files (default: mlp,cnn,lcnn; record: "
      "cnn,data/models/cnn-bn.json,data/models/cnn-deep.json)");
  cmd->add_option("--preset", o->preset,
                  "paper (30 coarse, 20 fine, 20 epochs, 5 seeds), quick (8, 6, 5, 2), beyond "
                  "(30, 20, 40, 5; augmentation, weight decay and the schedule in the space), or "
                  "record (beyond's budget per architecture, the widest space, the distorted "
                  "objective over 5 epochs, an ensemble over architectures, no effect "
                  "experiments)")
      ->default_val("paper");
  cmd->add_option("--coarse", o->coarse, "coarse random trials per model (0: preset)")
      ->default_val(0);
  cmd->add_option("--fine", o->fine, "TPE trials per model (0: preset)")->default_val(0);
  cmd->add_option("--epochs", o->epochs, "epochs per run (0: preset)")->default_val(0);
  cmd->add_option("--seeds", o->seeds, "seeds of the final models (0: preset)")->default_val(0);
  cmd->add_option("--seed", *seed, "sampler and trial seed, 0 to 2^64-1")->default_val("0");
  add_device_option(*cmd, o->device);
  add_data_options(*cmd, o->data_options);
  cmd->add_option("--objective", o->objective,
                  "what the searches rank trials by: val_acc, val_loss, distorted_acc or "
                  "distorted_loss (the validation images under 8 fixed random shifts, rotations "
                  "and scalings; default val_acc, record: distorted_acc)");
  cmd->add_option("--objective-epochs", o->objective_epochs,
                  "rank trials by the objective's mean over their last K epochs (0: the "
                  "preset's, 1 or for record 5)")
      ->default_val(0);
  cmd->add_option("--narrow-choices", o->narrow_choices,
                  "what narrowing keeps of categorical parameters besides the batch size: mode "
                  "(the most frequent among the top trials, the paper's rule for the batch) or "
                  "seen (every choice the top trials used); default mode, record: seen");
  cmd->add_option("--space", o->space,
                  "a search space file or JSON instead of the preset's (e.g. "
                  "data/spaces/independent.json)");
  cmd->add_option("--baseline", o->baseline,
                  "a paper-preset study's report.json to set beside this one in the report");
  cmd->add_option("--out", o->out, "the study folder (created; an existing one is resumed)")
      ->required();
  // A plain flag: CLI11 shows a negated one ("!--no-figures") as --no-figures{false}.
  cmd->add_flag("--no-figures", *no_figures, "skip the matplotlib figures");
  cmd->add_option("--python", *python,
                  "the Python that draws the figures (default: the first python3 on PATH with "
                  "matplotlib)");
  cmd->callback([o, models, models_option, no_figures, python, seed] {
    o->seed = parse_uint("--seed", *seed);
    o->models.clear();
    std::stringstream in(*models);
    for (std::string m; std::getline(in, m, ',');)
      if (!m.empty()) o->models.push_back(m);
    if (models_option->count() > 0 && o->models.empty())
      SGDLAB_INPUT_ERROR("--models: expected at least one model, got '", *models, "'");
    run_study(*o, std::cout);
    if (!*no_figures) make_figures(*python, o->out, std::cout);
  });
}

}  // namespace sgdlab::cli
