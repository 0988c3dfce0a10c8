#pragma once
// The text forms of a lane's settings, shared by the CLI's flags and the Python module,
// and a lane's settings from named options ({"lr": 0.01, "schedule": "cosine", ...}), so
// that every front end takes the same values with the same messages.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

// Parses "a,b,c" into numbers, each finite and within the float range (they become
// floats); throws InputError naming the flag.
std::vector<double> parse_list(const std::string& flag, const std::string& text);
// Parses "a,b,c" into unsigned integers (decimal digits only: no sign, fraction or
// exponent, at most 2^64 - 1); throws InputError naming the flag.
std::vector<uint64_t> parse_uint_list(const std::string& flag, const std::string& text);
uint64_t parse_uint(const std::string& flag, const std::string& text);
// Lists of length 1 broadcast to `lanes`; any other length must equal it.
std::vector<double> broadcast(const std::string& flag, const std::vector<double>& v, size_t lanes);
template <class T>
std::vector<T> broadcast_list(const std::string& flag, const std::vector<T>& v, size_t lanes);

// --augment: "shift=S,rotate=R,scale=Z,alpha=A,sigma=G" (any of them, alpha with sigma;
// empty: off).
Augment parse_augment(const std::string& text);
// --init: "xavier" or "uniform:LOW:HIGH" into the lane's initialisation.
void parse_init(const std::string& text, LaneSettings& lane);

// A lane's settings from named options, as `train`'s flags give them: every per-lane
// hyperparameter of engine/hyperparameters.hpp by its name ("lr", "weight_decay", ...),
// and "seed" (an integer), "nesterov" (a bool), "init" ("xavier" or "uniform:LOW:HIGH"),
// "augment" (--augment's text), "schedule" (--schedule's text) and "warmup" (epochs).
// `epochs` is the run's length, which schedules need. Anything else, a value of the
// wrong type, or a value training refuses throws InputError naming `where` and the key.
LaneSettings lane_settings_from(const nlohmann::json& options, int epochs,
                                const std::string& where);

// The names lane_settings_from takes, in the order its messages list them.
std::vector<std::string> lane_option_names();

}  // namespace sgdlab
