#include "sgdlab/search/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/search/lane_params.hpp"

namespace sgdlab {

std::vector<std::string> architectures(const std::string& model) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t comma = model.find(',', pos);
    out.push_back(model.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (out.back().empty()) SGDLAB_INPUT_ERROR("--model: an empty name in the list '", model, "'");
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

SweepOptions resolve_defaults(SweepOptions o, Device device, const std::string& sampler) {
  const bool gpu = device == Device::Cuda;
  if (o.pack_lanes <= 0) o.pack_lanes = gpu ? 32 : 4;
  if (o.streams <= 0) o.streams = gpu ? 4 : 1;
  if (o.wave <= 0) {
    // Random trials do not depend on each other: ask enough that each of the four
    // batch sizes can fill its packs. TPE learns from finished trials, and asking many
    // at once makes it mostly random.
    o.wave =
        sampler == "tpe" ? std::min(o.pack_lanes * o.streams, 8) : 4 * o.pack_lanes * o.streams;
  }
  if (o.trials <= 0) SGDLAB_INPUT_ERROR("--trials: expected a number > 0, got ", o.trials);
  if (o.epochs <= 0) SGDLAB_INPUT_ERROR("--epochs: expected a number > 0, got ", o.epochs);
  check_objective_epochs(o.objective_epochs, o.epochs);
  return o;
}

uint64_t trial_seed(uint64_t study_seed, int number) {
  return trial_rng(study_seed ^ 0x5EEDF00Dull, number)() >> 1;
}

std::optional<Trial> best_trial(const std::vector<Trial>& trials) {
  std::optional<Trial> best;
  auto rank = [](const Trial& t) { return t.state == TrialState::Complete ? 1 : 0; };
  for (const Trial& t : trials) {
    if (!t.finished_ok() || !t.value || !std::isfinite(*t.value)) continue;
    if (!best || rank(t) > rank(*best) || (rank(t) == rank(*best) && *t.value > *best->value))
      best = t;
  }
  return best;
}

bool median_prune(const std::vector<Trial>& history, int epoch, double value, int startup_trials,
                  int warmup_epochs) {
  if (epoch <= warmup_epochs) return false;
  std::vector<double> at_epoch;
  for (const Trial& t : history)
    if (t.state == TrialState::Complete && int(t.intermediate.size()) >= epoch &&
        std::isfinite(t.intermediate[epoch - 1]))
      at_epoch.push_back(t.intermediate[epoch - 1]);
  if (int(at_epoch.size()) < startup_trials) return false;
  std::sort(at_epoch.begin(), at_epoch.end());
  const size_t m = at_epoch.size();
  const double median = m % 2 ? at_epoch[m / 2] : 0.5 * (at_epoch[m / 2 - 1] + at_epoch[m / 2]);
  return value < median;
}

namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

class Scheduler {
 public:
  Scheduler(StudyStorage& storage, int64_t study, const SearchSpace& space, Sampler& sampler,
            const SweepOptions& o, std::vector<ModelSpec> models, const BackendFactory& backends,
            const DeviceData& data, const std::function<void(const SweepProgress&)>& on_progress)
      : storage_(storage),
        study_(study),
        space_(space),
        sampler_(sampler),
        o_(o),
        models_(std::move(models)),
        make_backend_(backends),
        data_(data),
        on_progress_(on_progress),
        start_(std::chrono::steady_clock::now()) {}

  SweepResult run() {
    SweepResult result;
    result.recovered = storage_.recover_stale(study_);
    while (!stopping()) {
      const Census c = census(storage_.trials(study_));
      // Trials running in other processes count: they will finish there.
      const int missing = o_.trials - c.done - c.running;
      if (missing <= 0) {
        // A sibling worker may have died since the start: its trials are asked again
        // here rather than left RUNNING with the study unfinished.
        const int recovered = c.running > 0 ? storage_.recover_stale(study_) : 0;
        result.recovered += recovered;
        if (recovered > 0) continue;
        break;
      }
      if (c.refused >= o_.trials)
        SGDLAB_INPUT_ERROR("the search space: ", c.refused,
                           " trials were refused by training, the last with ", c.last_refusal);
      // The budget holds across workers: a new trial is stored only while fewer than
      // o_.trials trials are done, running or waiting (failed ones do not count).
      const int max_stored = o_.trials + c.failed;
      std::vector<Trial> wave;
      for (int i = 0; i < std::min(missing, wave_size(c)); ++i) {
        auto t = storage_.ask_within(
            study_,
            [&](const std::vector<Trial>& history, int number) {
              return sampler_.sample(space_, history, number);
            },
            max_stored);
        if (!t) break;  // other workers took the rest of the budget meanwhile
        wave.push_back(std::move(*t));
      }
      run_wave(wave);
      result.ran_here += int(wave.size());
    }
    if (stopping()) {
      result.stopped = true;
      result.requeued = storage_.release_held();
    }
    const auto trials = storage_.trials(study_);
    const Census c = census(trials);
    result.done = c.done;
    result.still_running = c.running;
    result.best = best_trial(trials);
    result.seconds = elapsed();
    return result;
  }

 private:
  struct Census {
    int done = 0, running = 0, waiting = 0, failed = 0, refused = 0, stored = 0;
    std::string last_refusal;
  };

  static Census census(const std::vector<Trial>& trials) {
    Census c;
    for (const Trial& t : trials) {
      c.done += t.finished_ok();
      c.running += t.state == TrialState::Running;
      c.waiting += t.state == TrialState::Waiting;
      c.failed += t.state == TrialState::Failed;
      if (t.state == TrialState::Failed && t.attrs.count("fail_reason")) {
        ++c.refused;
        c.last_refusal = t.attrs.at("fail_reason");
      }
      c.stored = std::max(c.stored, t.number + 1);
    }
    return c;
  }

  // Waves cover trial numbers [k * wave, (k + 1) * wave), as in a sweep never stopped: a
  // resumed sweep first finishes the wave it was killed in (its WAITING trials, and
  // what it had not asked yet), so that the sampler sees each new trial's history as it
  // would have uninterrupted and the resumed study reproduces.
  int wave_size(const Census& c) const {
    const int into_wave = c.stored % o_.wave;
    if (into_wave == 0 && c.waiting > 0) return c.waiting;
    return c.waiting + o_.wave - into_wave;
  }

  bool stopping() const { return o_.stop && o_.stop(); }

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // What the trials of one pack share: the architecture, the batch size, the optimizer.
  struct PackShape {
    int architecture;
    TrainerOptions options;
  };

  // Packs of one architecture, one batch size and one optimizer and at most pack_lanes
  // lanes, run streams at a time.
  void run_wave(const std::vector<Trial>& wave) {
    std::map<std::tuple<int, int, OptimizerKind>, std::vector<Trial>> by_shape;
    for (const Trial& t : wave) {
      // Checked before the batch size becomes an int (1e300 would not fit).
      const std::string why = refusal(t);
      if (why.empty())
        by_shape[{architecture_of(t.params), int(t.params.at("batch")), optimizer_of(t.params)}]
            .push_back(t);
      else
        refuse(t, why);
    }
    std::vector<std::pair<PackShape, std::vector<Trial>>> packs;
    for (auto& [shape, trials] : by_shape) {
      PackShape pack{std::get<0>(shape), TrainerOptions{std::get<1>(shape), o_.eval_batch}};
      pack.options.optimizer = std::get<2>(shape);
      for (size_t i = 0; i < trials.size(); i += size_t(o_.pack_lanes))
        packs.emplace_back(
            pack, std::vector<Trial>(
                      trials.begin() + i,
                      trials.begin() + std::min(trials.size(), i + size_t(o_.pack_lanes))));
    }
    for (size_t first = 0; first < packs.size() && !stopping(); first += size_t(o_.streams)) {
      const size_t last = std::min(packs.size(), first + size_t(o_.streams));
      while (backends_.size() < last - first) backends_.push_back(make_backend_());
      if (last - first == 1) {
        run_pack(*backends_[0], packs[first].first, packs[first].second);
        continue;
      }
      std::vector<std::thread> threads;
      std::vector<std::exception_ptr> errors(last - first);
      for (size_t p = first; p < last; ++p)
        threads.emplace_back([&, p] {
          try {
            run_pack(*backends_[p - first], packs[p].first, packs[p].second);
          } catch (...) {
            errors[p - first] = std::current_exception();
          }
        });
      for (auto& t : threads) t.join();
      for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    }
  }

  // Why training refuses a trial's parameters ("momentum: value 1.5 is ..."), or "".
  std::string refusal(const Trial& t) const {
    for (const auto& [name, value] : t.params) {
      const std::string why = training_refusal(name, value, data_.part(Split::Train).n);
      if (!why.empty()) return name + ": " + why;
    }
    if (const int a = architecture_of(t.params); a >= int(models_.size()))
      return "architecture: index " + std::to_string(a) + ", but the sweep has " +
             std::to_string(models_.size()) + " model(s)";
    return "";
  }

  // A refused trial is stored FAILED with the reason: neither this sweep nor a resumed
  // one asks it again (it would fail again, for ever).
  void refuse(const Trial& t, const std::string& why) {
    storage_.finish(t.id, TrialState::Failed, std::nullopt, {{"fail_reason", why}});
  }

  // Per lane: the epoch it was pruned or diverged at (0: it was not), its last stats,
  // the sum of its objective over the `value_epochs` epochs it was taken at, and its last
  // figures on the distorted validation set (when evaluated).
  struct PackOutcome {
    std::vector<int> pruned_at, diverged_at;
    std::vector<EpochStats> last;
    std::vector<double> value_sum;
    int value_epochs = 0;
    std::vector<EvalStats> distorted;
    bool stopped = false;  // SweepOptions::stop: the pack's results are not kept
  };

  void run_pack(Backend& backend, const PackShape& shape, const std::vector<Trial>& trials) {
    ScopedRange range(backend, "pack");
    const TrainerOptions& options = shape.options;
    const ModelSpec& model = models_[size_t(shape.architecture)];
    std::vector<LaneSettings> lanes;
    for (const Trial& t : trials)
      lanes.push_back(
          lane_settings(t.params, trial_seed(o_.seed, t.number), o_.epochs, model.input));
    const auto pack_start = std::chrono::steady_clock::now();
    std::unique_ptr<Trainer> trainer;
    try {
      trainer = std::make_unique<Trainer>(backend, data_, model, lanes, options);
    } catch (const InputError& e) {
      // The model and the data were checked before the sweep and each lane above: what
      // is left is about these trials' parameters.
      for (const Trial& t : trials) refuse(t, e.what());
      return;
    }
    PackOutcome out = train_pack(*trainer, trials);
    if (out.stopped) return;  // its trials stay held, to be queued again
    // A pack whose lanes all froze before the objective's epochs ended early: its value
    // is taken once, now (the frozen weights are those of the last epoch).
    if (out.value_epochs == 0) add_objective_epoch(*trainer, out);
    const auto test = trainer->evaluate(Split::Test);
    if (data_.has_distorted_val() && out.distorted.empty())
      out.distorted = trainer->evaluate(Split::ValDistorted);
    const std::vector<EvalStats>& distorted = out.distorted;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - pack_start).count();
    const int T = int(trials.size());
    for (int t = 0; t < T; ++t) {
      const TrialState state = out.diverged_at[t] ? TrialState::Diverged
                               : out.pruned_at[t] ? TrialState::Pruned
                                                  : TrialState::Complete;
      const EpochStats& last = out.last[t];
      std::map<std::string, std::string> attrs = {{"test_acc", fmt(test[t].acc)},
                                                  {"val_loss", fmt(last.val_loss)},
                                                  {"val_acc", fmt(last.val_acc)},
                                                  {"train_loss", fmt(last.train_loss)},
                                                  {"grad_mean_abs", fmt(last.grad_mean_abs)},
                                                  {"seed", std::to_string(lanes[t].seed)},
                                                  {"pack_lanes", std::to_string(T)},
                                                  {"pack_seconds", fmt(seconds)},
                                                  {"device", backend.describe()}};
      if (out.diverged_at[t]) attrs["diverged_epoch"] = std::to_string(out.diverged_at[t]);
      if (out.pruned_at[t]) attrs["pruned_epoch"] = std::to_string(out.pruned_at[t]);
      if (!distorted.empty()) {
        attrs["distorted_acc"] = fmt(distorted[t].acc);
        attrs["distorted_loss"] = fmt(distorted[t].loss);
      }
      storage_.finish(trials[t].id, state, out.value_sum[t] / out.value_epochs, attrs);
    }
    report_progress(options.batch, T, seconds);
  }

  // The epochs of a pack, each lane's values stored as they come, the median pruner
  // stopping lanes; ends early when every lane is pruned or diverged.
  PackOutcome train_pack(Trainer& trainer, const std::vector<Trial>& trials) {
    const int T = int(trials.size());
    PackOutcome out{std::vector<int>(T, 0), std::vector<int>(T, 0), std::vector<EpochStats>(T),
                    std::vector<double>(T, 0)};
    for (int e = 1; e <= o_.epochs; ++e) {
      if (stopping()) {
        out.stopped = true;
        return out;
      }
      const auto rows = trainer.train_epoch();
      std::vector<std::tuple<int64_t, int, double>> report;
      for (int t = 0; t < T; ++t) {
        if (out.pruned_at[t] || out.diverged_at[t]) continue;
        out.last[t] = rows[t];
        report.emplace_back(trials[t].id, e, epoch_value(rows[t]));
        if (rows[t].diverged) out.diverged_at[t] = e;
      }
      storage_.report(report);
      if (o_.prune && e < o_.epochs) {
        const auto history = storage_.trials(study_);
        for (int t = 0; t < T; ++t)
          if (!out.pruned_at[t] && !out.diverged_at[t] &&
              median_prune(history, e, epoch_value(rows[t]), o_.prune_startup_trials,
                           o_.prune_warmup_epochs)) {
            trainer.prune(t);
            out.pruned_at[t] = e;
          }
      }
      if (e > o_.epochs - o_.objective_epochs) add_objective_epoch(trainer, out);
      bool all_frozen = true;
      for (int t = 0; t < T; ++t)
        all_frozen = all_frozen && (out.pruned_at[t] || out.diverged_at[t]);
      if (all_frozen) break;
    }
    return out;
  }

  // Each lane's objective after this epoch, added to its sum (a frozen lane's weights,
  // and so its figures, stay as they were when it froze).
  void add_objective_epoch(Trainer& trainer, PackOutcome& out) const {
    const bool distorted = needs_distorted_val(o_.objective);
    if (distorted) out.distorted = trainer.evaluate(Split::ValDistorted);
    for (size_t t = 0; t < out.last.size(); ++t) {
      const EvalStats val{out.last[t].val_loss, out.last[t].val_acc};
      out.value_sum[t] += objective_value(o_.objective, distorted ? out.distorted[t] : val);
    }
    ++out.value_epochs;
  }

  // A lane's per-epoch value: the objective's plain validation counterpart (the distorted
  // set is evaluated only at the objective's epochs).
  double epoch_value(const EpochStats& r) const {
    return objective_value(plain_counterpart(o_.objective), {r.val_loss, r.val_acc});
  }

  void report_progress(int batch, int lanes, double seconds) {
    if (!on_progress_) return;
    std::lock_guard lock(progress_mutex_);
    const auto all = storage_.trials(study_);
    SweepProgress p;
    for (const Trial& t : all) p.done += t.finished_ok();
    p.total = o_.trials;
    p.best = best_trial(all);
    finished_here_ += lanes;
    p.trials_per_second = finished_here_ / std::max(elapsed(), 1e-9);
    std::ostringstream ev;
    ev << "pack batch " << batch << " x " << lanes << " lanes, " << fmt(seconds) << " s";
    p.event = ev.str();
    on_progress_(p);
  }

  StudyStorage& storage_;
  int64_t study_;
  const SearchSpace& space_;
  Sampler& sampler_;
  SweepOptions o_;
  std::vector<ModelSpec> models_;  // indexed by a trial's architecture
  const BackendFactory& make_backend_;
  // One backend per concurrent pack, kept for the whole sweep: on a GPU, destroying a
  // backend (cublasDestroy, cudaFree) synchronises the device, which would invalidate a
  // graph that another pack is capturing at that moment.
  std::vector<std::unique_ptr<Backend>> backends_;
  const DeviceData& data_;
  const std::function<void(const SweepProgress&)>& on_progress_;
  std::chrono::steady_clock::time_point start_;
  std::mutex progress_mutex_;
  int finished_here_ = 0;
};

// A study's trials are compared by one objective: it is stored with the study, and a
// study without it (made before objectives existed) was searched on val_acc.
void check_objective(StudyStorage& storage, int64_t study, Objective objective, int epochs) {
  const std::string wanted = objective_label(objective, epochs);
  std::optional<std::string> stored = storage.study_attr(study, "objective");
  if (!stored && !storage.trials(study).empty()) stored = objective_name(Objective::ValAcc);
  if (!stored) {
    storage.set_study_attr(study, "objective", wanted);
    return;
  }
  if (*stored != wanted)
    SGDLAB_INPUT_ERROR("the study's trials were searched on --objective ", *stored, ", not ",
                       wanted, "; use the same objective or another study name");
}

}  // namespace

SweepResult run_sweep(StudyStorage& storage, int64_t study, const SearchSpace& space,
                      Sampler& sampler, const SweepOptions& options, const BackendFactory& backends,
                      const DeviceData& data,
                      const std::function<void(const SweepProgress&)>& on_progress) {
  // An unknown model or a bad model file fails before any trial is asked, and so does a
  // list of models whose space cannot choose among them.
  std::vector<ModelSpec> models;
  for (const std::string& name : architectures(options.model)) {
    models.push_back(load_model(name));
    check_data_fits(data, models.back());
  }
  if (models.size() > 1 && !space.has("architecture"))
    SGDLAB_INPUT_ERROR("--model: ", models.size(), " models need the space's categorical ",
                       "'architecture' (their indices, 0 to ", models.size() - 1, ")");
  if (space.has("architecture")) {
    const ParamSpec& a = space.get("architecture");
    const bool fits =
        !a.choices.empty() && std::all_of(a.choices.begin(), a.choices.end(),
                                          [&](double c) { return c < double(models.size()); });
    if (a.dist != Dist::Categorical || !fits)
      SGDLAB_INPUT_ERROR("architecture: expected a categorical of indices below ", models.size(),
                         " (the models of --model)");
  }
  // So does a space that training would refuse (the CLI names the space file first).
  check_space_fits(space, data.part(Split::Train).n, "the search space");
  SGDLAB_CHECK(!needs_distorted_val(options.objective) || data.has_distorted_val(),
               "data with a distorted validation set for the objective ",
               objective_name(options.objective));
  check_objective(storage, study, options.objective, options.objective_epochs);
  return Scheduler(storage, study, space, sampler, options, std::move(models), backends, data,
                   on_progress)
      .run();
}

}  // namespace sgdlab
