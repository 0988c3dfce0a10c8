// sgdlab tpe-benchmark: sgdlab's samplers on standard test functions, for the
// side-by-side comparison with Optuna in tools/tpe_vs_optuna.py.
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/search/sampler.hpp"

namespace sgdlab::cli {
namespace {

struct TestFunction {
  SearchSpace space;
  std::function<double(const ParamValues&)> f;  // minimised
};

// The same definitions as tools/tpe_vs_optuna.py.
TestFunction test_function(const std::string& name) {
  if (name == "quadratic") {
    // The study's four-parameter space, minimum 0 at lr 10^-2.5, batch 32, momentum 0.9, dropout
    // 0.35.
    return {SearchSpace::study_default(), [](const ParamValues& p) {
              const double a = (std::log10(p.at("lr")) + 2.5) / 6,
                           b = (p.at("momentum") - 0.9) / 0.49, c = (p.at("dropout") - 0.35) / 0.6,
                           d = (std::log2(p.at("batch")) - 5) / 3;
              return a * a + b * b + c * c + d * d;
            }};
  }
  if (name == "branin") {
    return {SearchSpace({{"x1", Dist::Uniform, -5, 10, {}}, {"x2", Dist::Uniform, 0, 15, {}}}),
            [](const ParamValues& p) {
              const double x1 = p.at("x1"), x2 = p.at("x2");
              const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
              return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
            }};
  }
  if (name == "hartmann6") {
    std::vector<ParamSpec> params;
    for (int i = 0; i < 6; ++i)
      params.push_back({"x" + std::to_string(i), Dist::Uniform, 0, 1, {}});
    return {SearchSpace(params), [](const ParamValues& p) {
              static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
              static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                             {0.05, 10, 17, 0.1, 8, 14},
                                             {3, 3.5, 1.7, 10, 17, 8},
                                             {17, 8, 0.05, 10, 0.1, 14}};
              static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                             {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                             {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                             {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
              double sum = 0;
              for (int i = 0; i < 4; ++i) {
                double inner = 0;
                for (int j = 0; j < 6; ++j) {
                  const double x = p.at("x" + std::to_string(j));
                  inner += A[i][j] * (x - P[i][j]) * (x - P[i][j]);
                }
                sum += alpha[i] * std::exp(-inner);
              }
              return -sum;
            }};
  }
  SGDLAB_INPUT_ERROR("--function: expected quadratic, branin or hartmann6, got '", name, "'");
}

struct Args {
  std::string function = "quadratic", sampler = "tpe";
  int trials = 30, seeds = 20;
  bool multivariate = false;
};

void run(const Args& a) {
  // A negative count would print an empty result as if it had run.
  if (a.seeds < 1) SGDLAB_INPUT_ERROR("--seeds: expected a number of runs >= 1, got ", a.seeds);
  if (a.trials < 1) SGDLAB_INPUT_ERROR("--trials: expected a number >= 1, got ", a.trials);
  const TestFunction tf = test_function(a.function);
  nlohmann::json out = {{"function", a.function}, {"sampler", a.sampler}, {"trials", a.trials}};
  for (int seed = 0; seed < a.seeds; ++seed) {
    TpeOptions opt;
    opt.multivariate = a.multivariate;
    auto sampler = make_sampler(a.sampler, uint64_t(seed), opt);
    std::vector<Trial> history;
    double best = INFINITY;
    for (int n = 0; n < a.trials; ++n) {
      Trial t;
      t.number = n;
      t.params = sampler->sample(tf.space, history, n);
      const double v = tf.f(t.params);
      best = std::min(best, v);
      t.state = TrialState::Complete;
      t.value = -v;  // samplers maximise
      history.push_back(t);
    }
    out["best"].push_back(best);
  }
  std::cout << out.dump() << "\n";
}

}  // namespace

void register_tpe_benchmark(CLI::App& app) {
  auto a = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("tpe-benchmark", "best values of a sampler on a test function (JSON)");
  cmd->add_option("--function", a->function, "quadratic, branin or hartmann6")
      ->default_val("quadratic");
  cmd->add_option("--sampler", a->sampler, "tpe or random")->default_val("tpe");
  cmd->add_option("--trials", a->trials, "trials per run")->default_val(30);
  cmd->add_option("--seeds", a->seeds, "runs (seeds 0..N-1)")->default_val(20);
  cmd->add_flag("--multivariate", a->multivariate, "multivariate TPE");
  cmd->callback([a] { run(*a); });
}

}  // namespace sgdlab::cli
