#include "sgdlab/search/space.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"

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

SearchSpace SearchSpace::study_default() {
  return SearchSpace({{"lr", Dist::LogUniform, 1e-7, 1e-1, {}},
                      {"batch", Dist::Categorical, 0, 0, {16, 32, 64, 128}},
                      {"momentum", Dist::Uniform, 0.5, 0.99, {}},
                      {"dropout", Dist::Uniform, 0.1, 0.7, {}}});
}

namespace {

// The ranges training accepts for each parameter of the study's space.
void check_trainable(const ParamSpec& p, const std::string& source) {
  auto values = p.dist == Dist::Categorical ? p.choices : std::vector<double>{p.low, p.high};
  for (double v : values) {
    bool ok = std::isfinite(v);
    if (p.name == "lr") ok = ok && v > 0;
    if (p.name == "momentum") ok = ok && v >= 0 && v < 1;
    if (p.name == "dropout") ok = ok && v >= 0 && v < 1;
    if (p.name == "batch") ok = ok && v >= 1 && v == std::floor(v);
    if (!ok)
      SGDLAB_INPUT_ERROR(source, ": ", p.name, ": value ", v, " is outside what training accepts ",
                         "(lr > 0, momentum and dropout in [0, 1), batch a positive integer)");
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
  return p;
}

}  // namespace

SearchSpace SearchSpace::from_json(const nlohmann::json& j, const std::string& source) {
  SearchSpace space = study_default();
  if (!j.is_object()) SGDLAB_INPUT_ERROR(source, ": expected a JSON object of parameters");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string name = it.key();
    auto found = std::find_if(space.params_.begin(), space.params_.end(),
                              [&](const ParamSpec& p) { return p.name == name; });
    if (found == space.params_.end())
      SGDLAB_INPUT_ERROR(source, ": unknown parameter '", name,
                         "' (expected lr, batch, momentum, dropout)");
    const ParamSpec p = param_from_json(name, it.value(), source + ": " + name);
    check_trainable(p, source);
    *found = p;
  }
  return space;
}

SearchSpace SearchSpace::load(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    SGDLAB_INPUT_ERROR(path, ": not valid JSON (", e.what(), ")");
  }
  // A narrowed space file holds the space under "space" beside its statistics.
  if (j.contains("space")) j = j["space"];
  return from_json(j, path);
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
