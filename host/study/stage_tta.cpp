// Test-time shifts for the final models (the beyond preset): their probabilities over
// each image and its one-pixel moves, used by the ensemble when validation says so.
#include <filesystem>

#include "sgdlab/core/argmax.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/engine/tta.hpp"
#include "study_run.hpp"

namespace sgdlab::study {
namespace {

// [n, classes] into lane i of [n, lanes, classes].
void set_lane(std::vector<float>& p, const std::vector<float>& one, int lanes, int i, int classes) {
  const size_t n = one.size() / size_t(classes);
  SGDLAB_CHECK(p.size() == n * lanes * classes, "probabilities [n, lanes, classes]");
  for (size_t r = 0; r < n; ++r)
    std::copy_n(one.begin() + r * classes, classes, p.begin() + (r * lanes + i) * classes);
}

// Images whose most probable class is not their label.
int errors(const std::vector<float>& probs, const std::vector<int32_t>& labels, int classes) {
  int wrong = 0;
  for (size_t r = 0; r < labels.size(); ++r)
    wrong += argmax_first(probs.data() + r * classes, classes) != labels[r];
  return wrong;
}

ModelCheckpoint final_network(const std::string& dir, int seed) {
  const std::string path = dir + "/models/seed-" + std::to_string(seed) + ".safetensors";
  if (!std::filesystem::exists(path))
    SGDLAB_INPUT_ERROR(path, ": missing, and the test-time shifts need it (delete ", dir,
                       "/final.json to train the final models again)");
  return load_model_checkpoint(path);
}

}  // namespace

nlohmann::json tta_figures(StudyContext& c, const std::string& m, const nlohmann::json& final) {
  const std::string dir = model_folder(c.o, m);
  const int lanes = int(final["seeds"].size());
  SGDLAB_CHECK(lanes == c.o.seeds, "one final model per seed");
  std::vector<float> val, test;
  nlohmann::json plain_errors = nlohmann::json::array(), tta_errors = nlohmann::json::array();
  std::vector<double> test_acc;
  int plain_total = 0, tta_total = 0;
  for (int i = 0; i < lanes; ++i) {
    const ModelCheckpoint net = final_network(dir, final["seeds"][i].get<int>());
    const int classes = net.model.classes;
    // Plain and shifted from the same single-network views (the first is the plain
    // images), so the comparison that decides is between the views alone.
    const auto val_views =
        view_probabilities(*c.backend, net.model, net.params, c.data.val, c.o.tta_shift);
    const auto v = mean_over_views(val_views);
    const auto t = tta_probabilities(*c.backend, net.model, net.params, c.data.test, c.o.tta_shift);
    if (i == 0) {
      val.assign(c.data.val.size() * lanes * classes, 0.0f);
      test.assign(c.data.test.size() * lanes * classes, 0.0f);
    }
    set_lane(val, v, lanes, i, classes);
    set_lane(test, t, lanes, i, classes);
    plain_errors.push_back(errors(val_views[0], c.data.val.y, classes));
    tta_errors.push_back(errors(v, c.data.val.y, classes));
    plain_total += plain_errors.back().get<int>();
    tta_total += tta_errors.back().get<int>();
    test_acc.push_back(1.0 - double(errors(t, c.data.test.y, classes)) / c.data.test.size());
  }
  write_floats(dir + "/final_val_probs_tta.f32", val);
  write_floats(dir + "/final_test_probs_tta.f32", test);
  return {{"shift", c.o.tta_shift},
          {"val_errors_plain", plain_errors},
          {"val_errors", tta_errors},
          {"used", tta_total < plain_total},
          {"test_acc", test_acc},
          {"test_mean", mean(test_acc)},
          {"test_std", sample_std(test_acc)}};
}

std::string ensemble_probs_suffix(const nlohmann::json& final) {
  return final.contains("tta") && final["tta"].value("used", false) ? "_tta" : "";
}

}  // namespace sgdlab::study
