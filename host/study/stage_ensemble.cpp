// The ensemble: per seed index i, the three models' lane-i probabilities combined by a
// weighted vote, the weights chosen on validation and reported on test.
#include <algorithm>
#include <map>

#include "sgdlab/engine/stats.hpp"
#include "sgdlab/study/ensemble.hpp"
#include "study_run.hpp"

namespace sgdlab::study {

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
    val[m] = read_floats(c.o.out + "/" + m + "/final_val_probs.f32");
    test[m] = read_floats(c.o.out + "/" + m + "/final_test_probs.f32");
  }
  // Probabilities are [n, seeds, classes]: lane i of sample r at (r * seeds + i) * classes.
  auto lane = [&](const std::vector<float>& p, size_t n, int i) {
    std::vector<float> out(n * classes);
    for (size_t r = 0; r < n; ++r)
      std::copy_n(p.begin() + (r * c.o.seeds + i) * classes, classes, out.begin() + r * classes);
    return out;
  };
  nlohmann::json per_seed = nlohmann::json::array();
  std::vector<double> test_acc;
  for (int i = 0; i < c.o.seeds; ++i) {
    std::vector<std::vector<float>> vp, tp;
    for (const char* m : {"mlp", "cnn", "lcnn"}) {
      vp.push_back(lane(val[m], nv, i));
      tp.push_back(lane(test[m], nt, i));
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
  c.report["ensemble"] = {
      {"per_seed", per_seed}, {"test_mean", mean(test_acc)}, {"test_std", sample_std(test_acc)}};
}

}  // namespace sgdlab::study
