#include "sgdlab/search/space.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/hyperparameters.hpp"
#include "sgdlab/engine/json_text.hpp"

namespace sgdlab {

double ParamSpec::to_internal(double value) const {
  switch (dist) {
    case Dist::LogUniform:
      return std::log(value);
    case Dist::Uniform:
      return value;
    case Dist::Categorical: {
      const auto it = std::find(choices.begin(), choices.end(), value);
      SGDLAB_CHECK(it != choices.end(), name, " value ", value, " is one of its choices");
      return double(it - choices.begin());
    }
  }
  return value;
}

double ParamSpec::from_internal(double internal) const {
  switch (dist) {
    case Dist::LogUniform:
      return std::clamp(std::exp(internal), low, high);
    case Dist::Uniform:
      return std::clamp(internal, low, high);
    case Dist::Categorical:
      return choices.at(size_t(std::lround(internal)));
  }
  return internal;
}

double ParamSpec::internal_low() const {
  return dist == Dist::LogUniform ? std::log(low) : dist == Dist::Uniform ? low : 0.0;
}
double ParamSpec::internal_high() const {
  return dist == Dist::LogUniform ? std::log(high)
         : dist == Dist::Uniform  ? high
                                  : double(choices.size() - 1);
}

SearchSpace::SearchSpace(std::vector<ParamSpec> params) : params_(std::move(params)) {}

const std::vector<ParamSpec>& SearchSpace::optional_params() {
  static const std::vector<ParamSpec> params = {{"weight_decay", Dist::LogUniform, 1e-6, 1e-2, {}},
                                                {"augment", Dist::Uniform, 0.0, 1.0, {}},
                                                {"schedule", Dist::Categorical, 0, 0, {0, 1}},
                                                {"shift", Dist::Uniform, 0.0, 3.0, {}},
                                                {"rotate", Dist::Uniform, 0.0, 20.0, {}},
                                                {"scale", Dist::Uniform, 0.0, 0.2, {}},
                                                {"nesterov", Dist::Categorical, 0, 0, {0, 1}},
                                                {"warmup", Dist::Categorical, 0, 0, {0, 1, 2, 3}},
                                                {"label_smoothing", Dist::Uniform, 0.0, 0.2, {}},
                                                {"optimizer", Dist::Categorical, 0, 0, {0, 1, 2}},
                                                {"beta1", Dist::Uniform, 0.8, 0.99, {}},
                                                {"beta2", Dist::Uniform, 0.99, 0.9999, {}},
                                                {"elastic_alpha", Dist::Uniform, 0.0, 20.0, {}},
                                                {"elastic_sigma", Dist::Uniform, 1.5, 4.0, {}},
                                                {"architecture", Dist::Categorical, 0, 0, {0}}};
  return params;
}

SearchSpace SearchSpace::beyond_default() {
  std::vector<ParamSpec> params = study_default().params();
  for (const ParamSpec& p : optional_params())
    if (p.name == "weight_decay" || p.name == "augment" || p.name == "schedule")
      params.push_back(p);
  return SearchSpace(params);
}

SearchSpace SearchSpace::independent_default() {
  std::vector<ParamSpec> params = study_default().params();
  for (const ParamSpec& p : optional_params())
    if (p.name == "weight_decay" || p.name == "schedule" || p.name == "shift" ||
        p.name == "rotate" || p.name == "scale" || p.name == "nesterov")
      params.push_back(p);
  return SearchSpace(params);
}

SearchSpace SearchSpace::record_default() {
  std::vector<ParamSpec> params = independent_default().params();
  for (ParamSpec& p : params)
    if (p.name == "schedule") p.choices = {0, 1, 2, 3};
  for (const ParamSpec& p : optional_params())
    if (p.name == "warmup" || p.name == "elastic_alpha" || p.name == "elastic_sigma" ||
        p.name == "label_smoothing")
      params.push_back(p);
  return SearchSpace(params);
}

SearchSpace SearchSpace::study_default() {
  return SearchSpace({{"lr", Dist::LogUniform, 1e-7, 1e-1, {}},
                      {"batch", Dist::Categorical, 0, 0, {16, 32, 64, 128}},
                      {"momentum", Dist::Uniform, 0.5, 0.99, {}},
                      {"dropout", Dist::Uniform, 0.1, 0.7, {}}});
}

namespace {

// `v` as the 32-bit float training stores it. Beyond float's range it is +-inf: the
// conversion itself would be undefined there.
double as_float(double v) {
  if (std::isfinite(v) && std::fabs(v) > double(std::numeric_limits<float>::max()))
    return std::copysign(double(INFINITY), v);
  return double(float(v));
}

// Every value a parameter can draw that decides whether training takes it: the bounds
// (values in between convert monotonically) or the choices.
std::vector<double> extreme_values(const ParamSpec& p) {
  return p.dist == Dist::Categorical ? p.choices : std::vector<double>{p.low, p.high};
}

// Each value of a parameter against training's limits (the data's size unknown yet).
void check_trainable(const ParamSpec& p, const std::string& source) {
  for (double v : extreme_values(p)) {
    const std::string why = training_refusal(p.name, v);
    if (!why.empty()) SGDLAB_INPUT_ERROR(source, ": ", p.name, ": ", why);
  }
}

// Fields are checked one by one rather than left to the JSON library, whose messages do
// not say which field is wrong and which would take true for 1.
double number_field(const nlohmann::json& v, const char* key, const std::string& where) {
  if (!v.contains(key)) SGDLAB_INPUT_ERROR(where, ": expected \"", key, "\": a number");
  const auto& x = v[key];
  if (!x.is_number()) SGDLAB_INPUT_ERROR(where, ": \"", key, "\" must be a number, got ", x.dump());
  return x.get<double>();
}

std::vector<double> choices_field(const nlohmann::json& v, const std::string& where) {
  const auto it = v.find("choices");
  if (it == v.end()) SGDLAB_INPUT_ERROR(where, ": expected \"choices\": an array of numbers");
  if (!it->is_array() ||
      !std::all_of(it->begin(), it->end(), [](const nlohmann::json& c) { return c.is_number(); }))
    SGDLAB_INPUT_ERROR(where, ": \"choices\" must be an array of numbers, got ", it->dump());
  if (it->empty()) SGDLAB_INPUT_ERROR(where, ": expected at least one choice");
  return it->get<std::vector<double>>();
}

// A key the parameter's type does not read ("step", a misspelt "hihg") would be ignored
// without a word: refused, naming it and what the type takes.
void refuse_unknown_keys(const nlohmann::json& v, const std::vector<std::string>& known,
                         const std::string& where) {
  for (const auto& [key, unused] : v.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string takes;
    for (const auto& k : known) takes += (takes.empty() ? "\"" : ", \"") + k + "\"";
    SGDLAB_INPUT_ERROR(where, ": unknown key \"", key, "\" (this type takes ", takes, ")");
  }
}

// One parameter's object; `where` is "source: name".
ParamSpec param_from_json(const std::string& name, const nlohmann::json& v,
                          const std::string& where) {
  if (!v.is_object())
    SGDLAB_INPUT_ERROR(where, ": expected an object with a \"type\", got ", v.dump());
  const auto type_it = v.find("type");
  const std::string type =
      type_it != v.end() && type_it->is_string() ? type_it->get<std::string>() : "";
  ParamSpec p;
  p.name = name;
  if (type == "uniform" || type == "log_uniform") {
    p.dist = type == "uniform" ? Dist::Uniform : Dist::LogUniform;
    p.low = number_field(v, "low", where);
    p.high = number_field(v, "high", where);
    if (!(p.low <= p.high))
      SGDLAB_INPUT_ERROR(where, ": expected low <= high, got ", p.low, " > ", p.high);
    if (p.dist == Dist::LogUniform && !(p.low > 0))
      SGDLAB_INPUT_ERROR(where, ": a log_uniform range needs low > 0");
  } else if (type == "categorical") {
    p.dist = Dist::Categorical;
    p.choices = choices_field(v, where);
  } else {
    SGDLAB_INPUT_ERROR(where,
                       ": expected \"type\": \"uniform\", \"log_uniform\" or \"categorical\"");
  }
  refuse_unknown_keys(v,
                      p.dist == Dist::Categorical ? std::vector<std::string>{"type", "choices"}
                                                  : std::vector<std::string>{"type", "low", "high"},
                      where);
  return p;
}

}  // namespace

std::string training_refusal(const std::string& name, double value, size_t train_size) {
  // The trainer's own rules (engine/hyperparameters.hpp), on the float each value
  // becomes; the search's own encodings (augment, schedule) and the batch size here.
  std::string rule = "a finite number";
  std::function<bool(double)> accepts = [](double x) { return std::isfinite(x); };
  if (const Hyperparameter* h = find_hyperparameter(name)) {
    rule = std::string("expected ") + h->rule;
    accepts = h->accepts;
  } else if (name == "augment") {
    rule = "augment must be in [0, 1]";
    accepts = [](double x) { return x >= 0 && x <= 1; };
  } else if (name == "schedule") {
    rule = "schedule must be 0 (constant), 1 (cosine), 2 (cosine per step) or 3 (onecycle)";
    accepts = [](double x) { return x == 0 || x == 1 || x == 2 || x == 3; };
  } else if (name == "architecture") {
    rule = "architecture must be a whole number >= 0 (an index into the sweep's models)";
    accepts = [](double x) { return x >= 0 && x <= 1e6 && x == std::floor(x); };
  } else if (name == "optimizer") {
    rule = "optimizer must be 0 (sgd), 1 (adam) or 2 (adamw)";
    accepts = [](double x) { return x == 0 || x == 1 || x == 2; };
  } else if (name == "batch") {
    const double most = train_size ? double(train_size) : double(INT_MAX);
    rule = train_size ? "a batch size from 1 to the training set's " + std::to_string(train_size) +
                            " samples"
                      : "a batch size must be a whole number >= 1";
    accepts = [most](double x) { return x >= 1 && x == std::floor(x) && x <= most; };
  }
  const bool batch = name == "batch";  // an int, not a float, in training
  const double trained = batch ? value : as_float(value);
  if (accepts(trained) && accepts(value)) return "";
  std::ostringstream s;
  s.precision(15);
  s << "value " << value << " is outside what training accepts (" << rule;
  if (accepts(value)) s << "; as a 32-bit float it is " << trained;
  s << ")";
  return s.str();
}

void check_space_fits(const SearchSpace& space, size_t train_size, const std::string& source) {
  for (const ParamSpec& p : space.params())
    for (double v : extreme_values(p)) {
      const std::string why = training_refusal(p.name, v, train_size);
      if (!why.empty()) SGDLAB_INPUT_ERROR(source, ": ", p.name, ": ", why);
    }
}

SearchSpace SearchSpace::from_json(const nlohmann::json& j, const std::string& source) {
  SearchSpace space = study_default();
  if (!j.is_object()) SGDLAB_INPUT_ERROR(source, ": expected a JSON object of parameters");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string name = it.key();
    auto found = std::find_if(space.params_.begin(), space.params_.end(),
                              [&](const ParamSpec& p) { return p.name == name; });
    if (found == space.params_.end()) {
      const auto& optional = optional_params();
      if (std::none_of(optional.begin(), optional.end(),
                       [&](const ParamSpec& p) { return p.name == name; })) {
        std::string expected;
        for (const auto& list : {space.params_, optional})
          for (const ParamSpec& p : list) expected += (expected.empty() ? "" : ", ") + p.name;
        SGDLAB_INPUT_ERROR(source, ": unknown parameter '", name, "' (expected ", expected, ")");
      }
      space.params_.push_back({name});
      found = space.params_.end() - 1;
    }
    const ParamSpec p = param_from_json(name, it.value(), source + ": " + name);
    check_trainable(p, source);
    *found = p;
  }
  return space;
}

namespace {

// The JSON of a space, or of a narrowed space file, whose errors name `source`.
SearchSpace space_from_text(const std::string& text, const std::string& source) {
  nlohmann::json j = parse_json_text(text, source);
  // A narrowed space file holds the space under "space" beside its statistics.
  if (j.is_object() && j.contains("space")) j = j["space"];
  return SearchSpace::from_json(j, source);
}

}  // namespace

SearchSpace SearchSpace::load(const std::string& path) {
  return space_from_text(read_text_file(path), path);
}

std::string SearchSpace::argument_source(const std::string& arg) {
  const size_t first = arg.find_first_not_of(" \t\r\n");
  return first != std::string::npos && arg[first] == '{' ? "--space" : arg;
}

SearchSpace SearchSpace::from_argument(const std::string& arg) {
  const std::string source = argument_source(arg);
  return source == "--space" ? space_from_text(arg, source) : load(arg);
}

nlohmann::json SearchSpace::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& p : params_) {
    if (p.dist == Dist::Categorical)
      j[p.name] = {{"type", "categorical"}, {"choices", p.choices}};
    else
      j[p.name] = {
          {"type", p.is_log() ? "log_uniform" : "uniform"}, {"low", p.low}, {"high", p.high}};
  }
  return j;
}

const ParamSpec& SearchSpace::get(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return p;
  SGDLAB_THROW("no parameter '", name, "' in the search space");
}

bool SearchSpace::has(const std::string& name) const {
  return std::any_of(params_.begin(), params_.end(),
                     [&](const ParamSpec& p) { return p.name == name; });
}

bool SearchSpace::contains(const ParamValues& values) const {
  for (const auto& p : params_) {
    const auto it = values.find(p.name);
    if (it == values.end()) return false;
    if (p.dist == Dist::Categorical) {
      if (std::find(p.choices.begin(), p.choices.end(), it->second) == p.choices.end())
        return false;
    } else if (it->second < p.low || it->second > p.high) {
      return false;
    }
  }
  return true;
}

}  // namespace sgdlab
