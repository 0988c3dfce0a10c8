// The ensemble: per seed index i, every model's lane-i probabilities combined by a
// weighted vote, the weights chosen on validation and reported on test. The paper's three
// models keep the paper's weight ranges; any other set of models (the record preset's
// architectures) draws its weights uniformly on the simplex.
#include <algorithm>
#include <map>

#include <cmath>
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/study/ensemble.hpp"
#include "study_run.hpp"

namespace sgdlab::study {

namespace {

const int kClasses = 10;

// Each model's probabilities averaged over its seeds ([n, seeds, classes] -> [n, classes]).
std::vector<float> seed_average(const std::vector<float>& p, size_t n, int seeds, int classes) {
  std::vector<float> out(n * classes, 0.0f);
  for (size_t r = 0; r < n; ++r)
    for (int i = 0; i < seeds; ++i)
      for (int k = 0; k < classes; ++k)
        out[r * classes + k] += p[(r * seeds + i) * classes + k] / float(seeds);
  return out;
}

// The models the ensemble combines, in the order the weight search takes them: the
// paper's (mlp, cnn, lcnn) when the study has exactly those, else the study's order.
std::vector<std::string> ensemble_models(const StudyOptions& o) {
  std::vector<std::string> sorted = o.models;
  std::sort(sorted.begin(), sorted.end());
  if (sorted == std::vector<std::string>{"cnn", "lcnn", "mlp"}) return {"mlp", "cnn", "lcnn"};
  return o.models;
}

bool papers_rule(const std::vector<std::string>& models) {
  return models == std::vector<std::string>{"mlp", "cnn", "lcnn"};
}

WeightSearch weights_for(const StudyContext& c, const std::vector<std::string>& models,
                         const std::vector<std::vector<float>>& vp,
                         const std::vector<std::vector<float>>& tp, uint64_t seed) {
  return papers_rule(models) ? search_weights(vp, c.data.val.y, tp, c.data.test.y, kClasses,
                                              c.o.ensemble_draws, seed)
                             : search_simplex_weights(vp, c.data.val.y, tp, c.data.test.y, kClasses,
                                                      c.o.ensemble_draws, seed);
}

nlohmann::json named_weights(const std::vector<std::string>& models, const WeightSearch& w) {
  nlohmann::json j = nlohmann::json::object();
  for (size_t m = 0; m < models.size(); ++m) j[models[m]] = w.weights[m];
  return j;
}

// Every test image the vote gets wrong: its index, label, the predicted class, the
// weighted probability of each, and its pixels (for the report's figure).
nlohmann::json misclassified(const StudyContext& c, const std::vector<std::vector<float>>& tp,
                             const std::vector<double>& weights) {
  nlohmann::json out = nlohmann::json::array();
  const Dataset& test = c.data.test;
  const size_t features = test.x.size() / test.y.size();
  const std::vector<int> predicted = vote(tp, weights, kClasses);
  for (size_t i = 0; i < test.y.size(); ++i) {
    if (predicted[i] == test.y[i]) continue;
    double total = 0;
    for (double w : weights) total += w;
    auto probability = [&](int k) {
      double p = 0;
      for (size_t m = 0; m < tp.size(); ++m) p += weights[m] * tp[m][i * kClasses + k];
      return total > 0 ? p / total : 0.0;
    };
    // Three decimals are plenty for a picture, and keep report.json small.
    std::vector<double> pixels(features);
    for (size_t f = 0; f < features; ++f)
      pixels[f] = std::round(double(test.x[i * features + f]) * 1000) / 1000;
    out.push_back({{"index", i},
                   {"label", test.y[i]},
                   {"predicted", predicted[i]},
                   {"p_predicted", probability(predicted[i])},
                   {"p_label", probability(test.y[i])},
                   {"pixels", pixels}});
  }
  return out;
}

// One ensemble of every final model: each model's seeds averaged, the models weighted as
// above, the weights chosen on validation.
nlohmann::json all_seeds_ensemble(const StudyContext& c, const std::vector<std::string>& models,
                                  const std::map<std::string, std::vector<float>>& val,
                                  const std::map<std::string, std::vector<float>>& test) {
  std::vector<std::vector<float>> vp, tp;
  for (const auto& m : models) {
    vp.push_back(seed_average(val.at(m), c.data.val.size(), c.o.seeds, kClasses));
    tp.push_back(seed_average(test.at(m), c.data.test.size(), c.o.seeds, kClasses));
  }
  const WeightSearch w = weights_for(c, models, vp, tp, c.o.seed + 1000);
  return {{"weights", named_weights(models, w)},
          {"val_acc", w.val_acc},
          {"test_acc", w.test_acc},
          {"misclassified", misclassified(c, tp, w.weights)}};
}

}  // namespace

void run_ensemble(StudyContext& c) {
  const std::vector<std::string> models = ensemble_models(c.o);
  const bool every_model = std::all_of(models.begin(), models.end(), [&](const std::string& m) {
    return c.report["models"].contains(m);
  });
  if (models.size() < 2 || !every_model) {
    c.report["ensemble"] = nullptr;
    return;
  }
  c.log << "== ensemble: " << c.o.ensemble_draws << " weight draws per seed, chosen on validation"
        << std::endl;
  const size_t nv = c.data.val.size(), nt = c.data.test.size();
  std::map<std::string, std::vector<float>> val, test;
  for (const auto& m : models) {
    const std::string suffix = ensemble_probs_suffix(c.report["models"][m]["final"]);
    val[m] = read_floats(model_folder(c.o, m) + "/final_val_probs" + suffix + ".f32");
    test[m] = read_floats(model_folder(c.o, m) + "/final_test_probs" + suffix + ".f32");
  }
  nlohmann::json per_seed = nlohmann::json::array();
  std::vector<double> test_acc;
  for (int i = 0; i < c.o.seeds; ++i) {
    std::vector<std::vector<float>> vp, tp;
    for (const auto& m : models) {
      vp.push_back(lane_probabilities(val[m], nv, c.o.seeds, i, kClasses));
      tp.push_back(lane_probabilities(test[m], nt, c.o.seeds, i, kClasses));
    }
    const WeightSearch w = weights_for(c, models, vp, tp, c.o.seed + uint64_t(i));
    test_acc.push_back(w.test_acc);
    nlohmann::json sj = {{"seed_index", i},
                         {"weights", named_weights(models, w)},
                         {"val_acc", w.val_acc},
                         {"test_acc", w.test_acc}};
    if (i == 0) {
      c.report["ensemble_confusion"] =
          confusion_matrix(vote(tp, w.weights, kClasses), c.data.test.y, kClasses);
      sj["draws"] = w.draws;
    }
    per_seed.push_back(sj);
  }
  c.report["ensemble"] = {{"models", models},
                          {"weights_rule", papers_rule(models) ? "paper" : "simplex"},
                          {"per_seed", per_seed},
                          {"test_mean", mean(test_acc)},
                          {"test_std", sample_std(test_acc)},
                          {"all_seeds", all_seeds_ensemble(c, models, val, test)}};
}

}  // namespace sgdlab::study
