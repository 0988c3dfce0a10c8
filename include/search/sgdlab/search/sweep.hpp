#pragma once
// The pack scheduler: asks the sampler for trials, groups them by batch size into
// packs of up to pack_lanes lanes, runs the packs (concurrently, one backend and
// stream each, on a GPU; one after another on the CPU) and stores each trial's
// result as soon as its pack ends.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/engine/devices.hpp"
#include "sgdlab/engine/trainer.hpp"
#include "sgdlab/search/objective.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/storage.hpp"

namespace sgdlab {

struct SweepOptions {
  // A model (a preset or a file), or several, comma-separated: then the space's
  // categorical `architecture` picks one by its index in the list for each trial, and a
  // pack holds the trials of one architecture.
  std::string model;
  int trials = 30;  // the study's target: a resumed study runs only what is missing
  int epochs = 20;
  int pack_lanes = 0;  // 0: CPU 4, GPU 32
  int streams = 0;     // packs at once; 0: CPU 1, GPU 4
  int wave = 0;        // trials asked together; 0: random 4 * lanes * streams, tpe 8
  uint64_t seed = 0;   // with the trial number, seeds each trial's weights and shuffles
  // What a trial's value is (search/objective.hpp). The per-epoch values, which the
  // pruner reads, are the plain validation counterpart: accuracy, or the negated loss.
  // The distorted ones need data made with robust_validation_distortion. A study keeps
  // its objective (attribute "objective"): resuming with another is an InputError.
  Objective objective = Objective::ValAcc;
  // The value is the objective's mean over the trial's last objective_epochs epochs
  // (a distorted objective then evaluates its set at each of them).
  int objective_epochs = 1;
  bool prune = false;  // median pruner on the per-epoch values
  int prune_startup_trials = 5;
  int prune_warmup_epochs = 1;
  int eval_batch = 512;
  // Asked between epochs (a signal's flag): once true, the packs stop at their next epoch,
  // no new trial is asked, and the trials this worker holds go back to WAITING.
  std::function<bool()> stop;
};

struct SweepProgress {
  int done = 0, total = 0;
  std::optional<Trial> best;
  double trials_per_second = 0;
  std::string event;  // what just happened
};

struct SweepResult {
  int done = 0, ran_here = 0;
  int recovered = 0;      // trials of dead workers asked again
  int still_running = 0;  // trials that live workers elsewhere were running at the end
  bool stopped = false;   // SweepOptions::stop ended it
  int requeued = 0;       // trials it held then, back to WAITING
  double seconds = 0;
  std::optional<Trial> best;
};

// The models of SweepOptions::model, in order ("cnn,data/models/cnn-bn.json").
std::vector<std::string> architectures(const std::string& model);

// The defaults of SweepOptions for a device.
SweepOptions resolve_defaults(SweepOptions options, Device device, const std::string& sampler);

// The lane seed of a trial: a function of the study seed and the trial number.
uint64_t trial_seed(uint64_t study_seed, int number);

// A space that training would refuse for this data is an InputError before any trial is
// asked; a trial that training refuses anyway is stored FAILED with its "fail_reason" and
// not asked again (as many refusals as the target number of trials end the sweep with an
// InputError). A resumed sweep asks its killed trials again under their numbers, and
// finishes the wave it was killed in before asking the next, so that it reproduces.
SweepResult run_sweep(StudyStorage& storage, int64_t study, const SearchSpace& space,
                      Sampler& sampler, const SweepOptions& options, const BackendFactory& backends,
                      const DeviceData& data,
                      const std::function<void(const SweepProgress&)>& on_progress = {});

// The best finished trial by value (COMPLETE first), if any.
std::optional<Trial> best_trial(const std::vector<Trial>& trials);

// Whether the median pruner stops a trial at `epoch` (1-based) with this value.
bool median_prune(const std::vector<Trial>& history, int epoch, double value, int startup_trials,
                  int warmup_epochs);

}  // namespace sgdlab
