#include "sgdlab/search/optuna_journal.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace sgdlab {
namespace {

// Optuna's enums, as its journal stores them.
enum OpCode { kCreateStudy = 0, kSetStudyUserAttr = 2, kCreateTrial = 4 };
enum OptunaState { kRunning = 0, kComplete = 1, kPruned = 2, kFail = 3, kWaiting = 4 };
constexpr int kMaximize = 2;
const char* const kWorker = "sgdlab-export";

int optuna_state(TrialState s) {
  switch (s) {
    case TrialState::Waiting:
      return kWaiting;
    case TrialState::Running:
      return kRunning;
    case TrialState::Complete:
      return kComplete;
    case TrialState::Pruned:
      return kPruned;
    default:  // Failed, and Diverged (its training turned NaN): Optuna's FAIL
      return kFail;
  }
}

// A value as JSON: whole numbers as integers, so that batch choices read 16, not 16.0.
nlohmann::json number(double v) {
  if (std::floor(v) == v && std::abs(v) < 9e15) return int64_t(v);
  return v;
}

// Optuna's distribution_to_json: the class name and its attributes, as JSON text.
std::string distribution_json(const ParamSpec& p) {
  nlohmann::json j;
  if (p.dist == Dist::Categorical) {
    nlohmann::json choices = nlohmann::json::array();
    for (double c : p.choices) choices.push_back(number(c));
    j = {{"name", "CategoricalDistribution"}, {"attributes", {{"choices", choices}}}};
  } else {
    j = {
        {"name", "FloatDistribution"},
        {"attributes", {{"low", p.low}, {"high", p.high}, {"log", p.is_log()}, {"step", nullptr}}}};
  }
  return j.dump();
}

// "2026-11-26 21:00:00" or ISO with a T: Python's datetime.fromisoformat reads both.
nlohmann::json time_or_null(const std::string& t) {
  return t.empty() ? nlohmann::json(nullptr) : nlohmann::json(t);
}

nlohmann::json trial_op(const SearchSpace& space, const Trial& t) {
  nlohmann::json distributions = nlohmann::json::object(), params = nlohmann::json::object();
  for (const ParamSpec& p : space.params()) {
    const auto it = t.params.find(p.name);
    if (it == t.params.end()) continue;
    distributions[p.name] = distribution_json(p);
    // Optuna's internal representation: the float itself, or the choice's index.
    params[p.name] = p.dist == Dist::Categorical ? nlohmann::json(int(p.to_internal(it->second)))
                                                 : nlohmann::json(it->second);
  }
  nlohmann::json intermediate = nlohmann::json::object();
  for (size_t e = 0; e < t.intermediate.size(); ++e)
    if (std::isfinite(t.intermediate[e])) intermediate[std::to_string(e + 1)] = t.intermediate[e];
  nlohmann::json user_attrs = {{"sgdlab_number", t.number}, {"sgdlab_state", to_string(t.state)}};
  for (const auto& [k, v] : t.attrs) user_attrs[k] = v;
  const int state = optuna_state(t.state);
  const bool has_value =
      t.value && std::isfinite(*t.value) && state != kWaiting && state != kRunning;
  nlohmann::json op = {
      {"op_code", kCreateTrial},
      {"worker_id", kWorker},
      {"study_id", 0},
      {"state", state},
      {"value", has_value ? nlohmann::json(*t.value) : nlohmann::json(nullptr)},
      {"values", nullptr},
      {"datetime_start", state == kWaiting ? nlohmann::json(nullptr) : time_or_null(t.started)},
      {"distributions", distributions},
      {"params", params},
      {"user_attrs", user_attrs},
      {"system_attrs", nlohmann::json::object()},
      {"intermediate_values", intermediate}};
  if (state != kWaiting && state != kRunning)
    op["datetime_complete"] = time_or_null(t.finished.empty() ? t.started : t.finished);
  return op;
}

}  // namespace

std::string optuna_journal(const StudyInfo& study, const std::vector<Trial>& trials) {
  const SearchSpace space = SearchSpace::from_json(study.space, study.name + ": space");
  std::string out = nlohmann::json({{"op_code", kCreateStudy},
                                    {"worker_id", kWorker},
                                    {"study_name", study.name},
                                    {"directions", {kMaximize}}})
                        .dump() +
                    "\n";
  const nlohmann::json attrs = {{"sgdlab_model", study.model},
                                {"sgdlab_sampler", study.sampler},
                                {"sgdlab_seed", std::to_string(study.seed)},
                                {"sgdlab_epochs", study.epochs}};
  for (const auto& [k, v] : attrs.items())
    out += nlohmann::json({{"op_code", kSetStudyUserAttr},
                           {"worker_id", kWorker},
                           {"study_id", 0},
                           {"user_attr", {{k, v}}}})
               .dump() +
           "\n";
  std::vector<Trial> sorted = trials;
  std::sort(sorted.begin(), sorted.end(),
            [](const Trial& a, const Trial& b) { return a.number < b.number; });
  for (const Trial& t : sorted) out += trial_op(space, t).dump() + "\n";
  return out;
}

}  // namespace sgdlab
