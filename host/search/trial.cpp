#include "sgdlab/search/trial.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

const char* to_string(TrialState s) {
  switch (s) {
    case TrialState::Waiting:
      return "WAITING";
    case TrialState::Running:
      return "RUNNING";
    case TrialState::Complete:
      return "COMPLETE";
    case TrialState::Pruned:
      return "PRUNED";
    case TrialState::Failed:
      return "FAILED";
    case TrialState::Diverged:
      return "DIVERGED";
  }
  return "?";
}

TrialState trial_state_from(const std::string& s) {
  for (TrialState t : {TrialState::Waiting, TrialState::Running, TrialState::Complete,
                       TrialState::Pruned, TrialState::Failed, TrialState::Diverged})
    if (s == to_string(t)) return t;
  SGDLAB_THROW("unknown trial state '", s, "'");
}

}  // namespace sgdlab
