#pragma once
// Each per-lane hyperparameter's facts in one place: its name (the LaneSettings field,
// the search space's parameter), the CLI flag that sets it, the values training
// accepts, and how to read and set it in LaneSettings. The trainer's checks
// (validate), the search space's refusals (search/space.hpp: training_refusal), the
// search's lane settings, `train`'s comma-list flags, the settings that runs record
// (config.json, result.json, saved models, the study's printed train command) and the
// CLI's messages are made from this table.
//
// Not here: the batch size (one per pack, not per lane), the initialisation (a kind
// and a range), and the search's encodings `augment` (a tied strength) and `schedule`
// (a code for a schedule kind), which the search turns into these fields.
#include <nlohmann/json.hpp>
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
  // Set by a comma-list flag of its own in `train` (one value for every lane, or one per
  // lane) with this default and help; null for a value that another flag sets
  // (--nesterov, --augment, --warmup).
  const char* list_default = nullptr;
  const char* help = nullptr;
  // Recorded always, or only where it differs from list_default, so that the record of a
  // run that does not use it reads as it did before it existed.
  bool always_recorded = false;
};

const std::vector<Hyperparameter>& lane_hyperparameters();
// The table's entry, or null.
const Hyperparameter* find_hyperparameter(const std::string& name);

// The value of a list flag's default, as a LaneSettings field holds it (a float).
double default_value(const Hyperparameter& h);

// A lane's list-flag hyperparameters as runs record them ({"lr": 0.01, ...}): those
// always recorded and those not at their default. A record without one of them means
// its default.
nlohmann::json recorded_settings(const LaneSettings& lane);

// What a saved model records of how it was trained: recorded_settings, the seed (as
// text: a uint64) and the batch size.
nlohmann::json model_hyperparameters(const LaneSettings& lane, int batch);

// The same as `train` flags (" --lr 0.01 --momentum 0.9 ..."), each value with
// `precision` significant digits.
std::string recorded_flags(const LaneSettings& lane, int precision);

// The first of a lane's values that training refuses, as "expected RULE, got VALUE",
// with the entry in `which`; "" when every value is accepted.
std::string lane_refusal(const LaneSettings& lane, const Hyperparameter** which);

}  // namespace sgdlab
