// The ensemble: per seed index i, the three models' lane-i probabilities combined by a
// weighted vote, the weights chosen on validation and reported on test.
#include <algorithm>
#include <map>

#include "sgdlab/engine/stats.hpp"
#include "sgdlab/study/ensemble.hpp"
#include "study_run.hpp"

namespace sgdlab::study {

namespace {

// Each model's probabilities averaged over its seeds ([n, seeds, classes] -> [n, classes]).
std::vector<float> seed_average(const std::vector<float>& p, size_t n, int seeds, int classes) {
  std::vector<float> out(n * classes, 0.0f);
  for (size_t r = 0; r < n; ++r)
    for (int i = 0; i < seeds; ++i)
      for (int k = 0; k < classes; ++k)
        out[r * classes + k] += p[(r * seeds + i) * classes + k] / float(seeds);
  return out;
}

// One ensemble of every final model: each model's seeds averaged, the three models
// weighted as above, the weights chosen on validation.
nlohmann::json all_seeds_ensemble(const StudyContext& c,
                                  const std::map<std::string, std::vector<float>>& val,
                                  const std::map<std::string, std::vector<float>>& test) {
  const int classes = 10;
  std::vector<std::vector<float>> vp, tp;
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    vp.push_back(seed_average(val.at(m), c.data.val.size(), c.o.seeds, classes));
    tp.push_back(seed_average(test.at(m), c.data.test.size(), c.o.seeds, classes));
  }
  const WeightSearch w = search_weights(vp, c.data.val.y, tp, c.data.test.y, classes,
                                        c.o.ensemble_draws, c.o.seed + 1000);
  return {{"weights", {{"mlp", w.weights[0]}, {"cnn", w.weights[1]}, {"lcnn", w.weights[2]}}},
          {"val_acc", w.val_acc},
          {"test_acc", w.test_acc}};
}

}  // namespace

void run_ensemble(StudyContext& c) {
  for (const char* m : {"mlp", "cnn", "lcnn"})
    if (!c.report["models"].contains(m)) {
      c.report["ensemble"] = nullptr;
      return;
    }
  c.log << "== ensemble: " << c.o.ensemble_draws << " weight draws per seed, chosen on validation"
        << std::endl;
  const int classes = 10;
  const size_t nv = c.data.val.size(), nt = c.data.test.size();
  std::map<std::string, std::vector<float>> val, test;
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    const std::string suffix = ensemble_probs_suffix(c.report["models"][m]["final"]);
    val[m] = read_floats(c.o.out + "/" + m + "/final_val_probs" + suffix + ".f32");
    test[m] = read_floats(c.o.out + "/" + m + "/final_test_probs" + suffix + ".f32");
  }
  nlohmann::json per_seed = nlohmann::json::array();
  std::vector<double> test_acc;
  for (int i = 0; i < c.o.seeds; ++i) {
    std::vector<std::vector<float>> vp, tp;
    for (const char* m : {"mlp", "cnn", "lcnn"}) {
      vp.push_back(lane_probabilities(val[m], nv, c.o.seeds, i, classes));
      tp.push_back(lane_probabilities(test[m], nt, c.o.seeds, i, classes));
    }
    const WeightSearch w = search_weights(vp, c.data.val.y, tp, c.data.test.y, classes,
                                          c.o.ensemble_draws, c.o.seed + i);
    test_acc.push_back(w.test_acc);
    nlohmann::json sj = {
        {"seed_index", i},
        {"weights", {{"mlp", w.weights[0]}, {"cnn", w.weights[1]}, {"lcnn", w.weights[2]}}},
        {"val_acc", w.val_acc},
        {"test_acc", w.test_acc}};
    if (i == 0) {
      c.report["ensemble_confusion"] =
          confusion_matrix(vote(tp, w.weights, classes), c.data.test.y, classes);
      sj["draws"] = w.draws;
    }
    per_seed.push_back(sj);
  }
  c.report["ensemble"] = {{"per_seed", per_seed},
                          {"test_mean", mean(test_acc)},
                          {"test_std", sample_std(test_acc)},
                          {"all_seeds", all_seeds_ensemble(c, val, test)}};
}

}  // namespace sgdlab::study
