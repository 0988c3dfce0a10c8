// The text forms of lane settings that the CLI's flags and the Python module share,
// and a lane's settings from named options (engine/lane_options.hpp).
#include "sgdlab/engine/lane_options.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/schedule.hpp"

namespace sgdlab {

namespace {

// The items of a comma list, empty ones included ("" is one empty item), for the
// parsers to refuse in their own words.
std::vector<std::string> comma_items(const std::string& text) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    items.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return items;
}

}  // namespace

std::vector<double> parse_list(const std::string& flag, const std::string& text) {
  std::vector<double> out;
  for (const std::string& item : comma_items(text)) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || !std::isfinite(v))
      SGDLAB_INPUT_ERROR(flag, ": expected a number or a comma-separated list of numbers, got '",
                         text, "'");
    // Every value becomes a float: 1e308 would train as inf.
    if (std::fabs(v) > std::numeric_limits<float>::max())
      SGDLAB_INPUT_ERROR(flag, ": ", item, " is out of the float range (at most ",
                         std::numeric_limits<float>::max(), " in size)");
    out.push_back(v);
  }
  return out;
}

namespace {

// One decimal integer of `text` (all of it, or an item of its list); `expected` says what
// the flag takes, for the message.
uint64_t parse_uint_item(const std::string& flag, const std::string& item, const std::string& text,
                         const char* expected) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
  if (ec == std::errc::result_out_of_range)
    SGDLAB_INPUT_ERROR(flag, ": expected at most 18446744073709551615, got '", text, "'");
  if (item.empty() || item[0] == '-' || item[0] == '+' || ec != std::errc() ||
      ptr != item.data() + item.size())
    SGDLAB_INPUT_ERROR(flag, ": expected ", expected, ", got '", text, "'");
  return v;
}

}  // namespace

std::vector<uint64_t> parse_uint_list(const std::string& flag, const std::string& text) {
  std::vector<uint64_t> out;
  for (const std::string& item : comma_items(text))
    out.push_back(
        parse_uint_item(flag, item, text, "non-negative integers (a comma-separated list)"));
  return out;
}

uint64_t parse_uint(const std::string& flag, const std::string& text) {
  return parse_uint_item(flag, text, text, "one non-negative integer");
}

template <class T>
std::vector<T> broadcast_list(const std::string& flag, const std::vector<T>& v, size_t lanes) {
  if (v.size() == lanes) return v;
  if (v.size() == 1) return std::vector<T>(lanes, v[0]);
  SGDLAB_INPUT_ERROR(flag, ": has ", v.size(), " values but the pack has ", lanes,
                     " lanes (give one value or one per lane)");
}
template std::vector<uint64_t> broadcast_list(const std::string&, const std::vector<uint64_t>&,
                                              size_t);

std::vector<double> broadcast(const std::string& flag, const std::vector<double>& v, size_t lanes) {
  return broadcast_list(flag, v, lanes);
}

Augment parse_augment(const std::string& text) {
  Augment a;
  bool sigma_given = false;
  if (text.empty() || text == "none") return a;
  for (const std::string& item : comma_items(text)) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    float* field = key == "shift"    ? &a.shift
                   : key == "rotate" ? &a.rotate
                   : key == "scale"  ? &a.scale
                   : key == "alpha"  ? &a.elastic_alpha
                   : key == "sigma"  ? &a.elastic_sigma
                                     : nullptr;
    if (!field || eq == std::string::npos)
      SGDLAB_INPUT_ERROR("--augment: expected shift=PIXELS,rotate=DEGREES,scale=FRACTION,",
                         "alpha=PIXELS,sigma=PIXELS (any of them), got '", text, "'");
    const auto v = parse_list("--augment " + key, item.substr(eq + 1));
    if (v.size() != 1) SGDLAB_INPUT_ERROR("--augment ", key, ": expected one number");
    *field = float(v[0]);
    sigma_given = sigma_given || field == &a.elastic_sigma;
  }
  if (a.elastic() && !sigma_given)
    SGDLAB_INPUT_ERROR("--augment alpha: give the smoothing too, sigma=PIXELS (Simard et al. ",
                       "used sigma=4 with alpha=34 on 28-pixel digits)");
  return a;
}

void parse_init(const std::string& text, LaneSettings& lane) {
  if (text == "xavier") {
    lane.init = InitKind::Xavier;
    return;
  }
  // uniform:LOW:HIGH
  if (text.rfind("uniform:", 0) == 0) {
    const auto rest = text.substr(8);
    const auto colon = rest.find(':');
    if (colon != std::string::npos) {
      const auto low = parse_list("--init", rest.substr(0, colon));
      const auto high = parse_list("--init", rest.substr(colon + 1));
      if (low.size() == 1 && high.size() == 1) {
        lane.init = InitKind::Uniform;
        lane.init_low = float(low[0]);
        lane.init_high = float(high[0]);
        return;
      }
    }
  }
  SGDLAB_INPUT_ERROR("--init: expected 'xavier' or 'uniform:LOW:HIGH', got '", text, "'");
}

namespace {

// A key's value as a number (a bool reads as 0 or 1), or InputError naming it.
double number_at(const nlohmann::json& v, const std::string& key, const std::string& where) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (!v.is_number()) SGDLAB_INPUT_ERROR(where, ": ", key, ": expected a number, got ", v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x) || std::fabs(x) > std::numeric_limits<float>::max())
    SGDLAB_INPUT_ERROR(where, ": ", key, ": expected a finite number in the float range, got ",
                       v.dump());
  return x;
}

std::string text_at(const nlohmann::json& v, const std::string& key, const std::string& where) {
  if (!v.is_string()) SGDLAB_INPUT_ERROR(where, ": ", key, ": expected text, got ", v.dump());
  return v.get<std::string>();
}

bool is_augment_field(const std::string& key) {
  return key == "shift" || key == "rotate" || key == "scale" || key == "elastic_alpha" ||
         key == "elastic_sigma";
}

}  // namespace

std::vector<std::string> lane_option_names() {
  std::vector<std::string> names = {"seed", "init", "augment", "schedule"};
  for (const Hyperparameter& h : lane_hyperparameters()) names.push_back(h.name);
  return names;
}

LaneSettings lane_settings_from(const nlohmann::json& options, int epochs,
                                const std::string& where) {
  if (!options.is_object())
    SGDLAB_INPUT_ERROR(where, ": expected named settings ({\"lr\": 0.01, ...}), got ",
                       options.dump());
  LaneSettings lane;
  // What `train` does with no flag: each list flag's default.
  for (const Hyperparameter& h : lane_hyperparameters())
    if (h.list_default) h.set(lane, default_value(h));
  bool augment_text = false, augment_field = false;
  std::string schedule = "constant";
  // The parsers' messages name the CLI's flag ("--schedule: ..."): here they name the
  // lane and the setting instead.
  auto parsed = [&](const std::string& key, auto parse) {
    try {
      parse();
    } catch (const InputError& e) {
      std::string why = e.what();
      if (why.rfind("--", 0) == 0 && why.find(": ") != std::string::npos)
        why = why.substr(why.find(": ") + 2);
      SGDLAB_INPUT_ERROR(where, ": ", key, ": ", why);
    }
  };
  for (auto it = options.begin(); it != options.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "seed") {
      if (!v.is_number_unsigned())
        SGDLAB_INPUT_ERROR(where, ": seed: expected an integer from 0 to 2^64 - 1, got ", v.dump());
      lane.seed = v.get<uint64_t>();
    } else if (key == "init") {
      const std::string text = text_at(v, key, where);
      parsed(key, [&] { parse_init(text, lane); });
    } else if (key == "augment") {
      const std::string text = text_at(v, key, where);
      parsed(key, [&] { lane.augment = parse_augment(text); });
      augment_text = true;
    } else if (key == "schedule") {
      schedule = text_at(v, key, where);
    } else if (const Hyperparameter* h = find_hyperparameter(key)) {
      // A number, set now: "warmup" is read by the schedule, parsed after the loop.
      const double x = number_at(v, key, where);
      if (!h->accepts(x))
        SGDLAB_INPUT_ERROR(where, ": ", key, ": expected ", h->rule, ", got ", v.dump());
      h->set(lane, x);
      augment_field = augment_field || is_augment_field(key);
    } else {
      std::string names;
      for (const auto& n : lane_option_names()) names += (names.empty() ? "" : ", ") + n;
      SGDLAB_INPUT_ERROR(where, ": unknown setting '", key, "' (expected any of ", names, ")");
    }
  }
  if (augment_text && augment_field)
    SGDLAB_INPUT_ERROR(where,
                       ": give augment's text or its fields (shift, rotate, scale, "
                       "elastic_alpha, elastic_sigma), not both");
  // As --augment's alpha, the elastic field's strength needs its smoothing.
  if (options.contains("elastic_alpha") && !options.contains("elastic_sigma") &&
      lane.augment.elastic())
    SGDLAB_INPUT_ERROR(where, ": elastic_alpha: give the smoothing too, elastic_sigma (Simard ",
                       "et al. used sigma=4 with alpha=34 on 28-pixel digits)");
  // The schedule with its warm-up, as --schedule and --warmup give it.
  const int warmup = lane.schedule.warmup;
  parsed("schedule", [&] { lane.schedule = parse_schedule(schedule, warmup, epochs); });
  const Hyperparameter* which = nullptr;
  const std::string why = lane_refusal(lane, &which);
  if (!why.empty()) SGDLAB_INPUT_ERROR(where, ": ", which->name, ": ", why);
  validate(lane);
  return lane;
}

}  // namespace sgdlab
