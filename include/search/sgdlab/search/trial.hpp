#pragma once
// A trial of a study, as stored and as the samplers see it.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sgdlab/search/space.hpp"

namespace sgdlab {

// WAITING: asked again after a failure, not yet started. DIVERGED: training turned
// NaN/Inf; its value is the validation accuracy it had then.
enum class TrialState { Waiting, Running, Complete, Pruned, Failed, Diverged };

const char* to_string(TrialState s);
TrialState trial_state_from(const std::string& s);

struct Trial {
  int64_t id = 0;
  int number = 0;
  TrialState state = TrialState::Running;
  ParamValues params;
  std::optional<double> value;       // the objective: validation accuracy
  std::vector<double> intermediate;  // per-epoch validation accuracy
  std::string started, finished;
  std::map<std::string, std::string> attrs;

  bool finished_ok() const {
    return state == TrialState::Complete || state == TrialState::Pruned ||
           state == TrialState::Diverged;
  }
};

}  // namespace sgdlab
