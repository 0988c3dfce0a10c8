#pragma once
// Search spaces: named parameters, each uniform, log-uniform or categorical.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sgdlab {

enum class Dist { Uniform, LogUniform, Categorical };

struct ParamSpec {
  std::string name;
  Dist dist = Dist::Uniform;
  double low = 0, high = 0;     // Uniform, LogUniform
  std::vector<double> choices;  // Categorical

  bool is_log() const { return dist == Dist::LogUniform; }
  // Samplers work in the internal space: ln(x) for log parameters, the index of the
  // choice for categorical ones.
  double to_internal(double value) const;
  double from_internal(double internal) const;
  double internal_low() const;
  double internal_high() const;
};

using ParamValues = std::map<std::string, double>;

class SearchSpace {
 public:
  SearchSpace() = default;
  explicit SearchSpace(std::vector<ParamSpec> params);

  // The study's space: lr log-uniform (1e-7, 1e-1), batch {16, 32, 64, 128},
  // momentum uniform (0.5, 0.99), dropout uniform (0.1, 0.7).
  static SearchSpace study_default();
  // The study's space and the options beyond the paper: weight_decay log-uniform
  // (1e-6, 1e-2), augment uniform (0, 1) (the strength of the random affine transform,
  // lane_params.hpp), schedule categorical {0: constant, 1: cosine}.
  static SearchSpace beyond_default();
  // The study's space with every optional parameter but the tied `augment` strength:
  // weight_decay, schedule, shift uniform (0, 3) pixels, rotate uniform (0, 20) degrees,
  // scale uniform (0, 0.2) and nesterov categorical {0, 1}, each acting on its own.
  static SearchSpace independent_default();
  // The record preset's: independent_default() with every schedule {0: constant,
  // 1: cosine, 2: cosine per step, 3: one-cycle} and a warm-up of {0..3} epochs (the run
  // that met #23's search criterion), plus elastic distortions (elastic_alpha uniform
  // (0, 20), elastic_sigma uniform (1.5, 4)) and label smoothing uniform (0, 0.2).
  static SearchSpace record_default();
  // The optional parameters a space file may add to the study's space.
  static const std::vector<ParamSpec>& optional_params();
  // The default space with the parameters a JSON object names replaced:
  // {"lr": {"type": "log_uniform", "low": 1e-4, "high": 0.1}, "batch": {"type":
  // "categorical", "choices": [32]}, ...}. Throws InputError naming `source`.
  // Training's limits are checked on the 32-bit floats it will use (1e-60 is 0 as a
  // float, 0.99999999999 is 1).
  static SearchSpace from_json(const nlohmann::json& j, const std::string& source);
  // A space file, or a narrowed space file (the space under "space"). A key given twice
  // or text after the JSON is an InputError.
  static SearchSpace load(const std::string& path);
  // --space: the JSON itself when it starts with '{' (errors name "--space"), else a file.
  static SearchSpace from_argument(const std::string& arg);
  // How errors name a --space argument: "--space" for inline JSON, else the file.
  static std::string argument_source(const std::string& arg);
  nlohmann::json to_json() const;

  const std::vector<ParamSpec>& params() const { return params_; }
  const ParamSpec& get(const std::string& name) const;
  bool has(const std::string& name) const;
  // Whether every value of `values` lies in this space.
  bool contains(const ParamValues& values) const;

 private:
  std::vector<ParamSpec> params_;
};

// Why training refuses `value` for parameter `name` ("value 1.5 is outside what training
// accepts (...)"), or "" when it takes it. `train_size` bounds the batch size (0: unknown).
std::string training_refusal(const std::string& name, double value, size_t train_size = 0);

// Every value the space can draw fits a training set of `train_size` samples; otherwise an
// InputError naming `source` and the parameter. A sweep checks it before asking a trial.
void check_space_fits(const SearchSpace& space, size_t train_size, const std::string& source);

}  // namespace sgdlab
