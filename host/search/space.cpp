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
    const auto& v = it.value();
    const std::string type = v.value("type", "");
    ParamSpec p;
    p.name = name;
    try {
      if (type == "uniform" || type == "log_uniform") {
        p.dist = type == "uniform" ? Dist::Uniform : Dist::LogUniform;
        p.low = v.at("low").get<double>();
        p.high = v.at("high").get<double>();
        if (!(p.low <= p.high))
          SGDLAB_INPUT_ERROR(source, ": ", name, ": expected low <= high, got ", p.low, " > ",
                             p.high);
        if (p.dist == Dist::LogUniform && !(p.low > 0))
          SGDLAB_INPUT_ERROR(source, ": ", name, ": a log_uniform range needs low > 0");
      } else if (type == "categorical") {
        p.dist = Dist::Categorical;
        p.choices = v.at("choices").get<std::vector<double>>();
        if (p.choices.empty())
          SGDLAB_INPUT_ERROR(source, ": ", name, ": expected at least one choice");
      } else {
        SGDLAB_INPUT_ERROR(source, ": ", name,
                           ": expected \"type\": \"uniform\", \"log_uniform\" or \"categorical\"");
      }
    } catch (const nlohmann::json::exception& e) {
      SGDLAB_INPUT_ERROR(source, ": ", name, ": ", e.what());
    }
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
