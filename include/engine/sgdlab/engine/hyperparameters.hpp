#pragma once
// Each per-lane hyperparameter's facts in one place: its name (the LaneSettings field,
// the search space's parameter), the CLI flag that sets it, the values training
// accepts, and how to read and set it in LaneSettings. The trainer's checks
// (validate), the search space's refusals (search/space.hpp: training_refusal), the
// search's lane settings and the CLI's messages are made from this table.
//
// Not here: the batch size (one per pack, not per lane), the initialisation (a kind
// and a range), and the search's encodings `augment` (a tied strength) and `schedule`
// (a code for a schedule kind), which the search turns into these fields.
#include <string>
#include <vector>

namespace sgdlab {

struct LaneSettings;

struct Hyperparameter {
  const char* name;  // "lr"
  const char* flag;  // "--lr": the CLI option that sets it
  const char* rule;  // what training accepts: "a learning rate > 0"
  bool (*accepts)(double);
  double (*get)(const LaneSettings&);
  void (*set)(LaneSettings&, double);
};

const std::vector<Hyperparameter>& lane_hyperparameters();
// The table's entry, or null.
const Hyperparameter* find_hyperparameter(const std::string& name);

// The first of a lane's values that training refuses, as "expected RULE, got VALUE",
// with the entry in `which`; "" when every value is accepted.
std::string lane_refusal(const LaneSettings& lane, const Hyperparameter** which);

}  // namespace sgdlab
