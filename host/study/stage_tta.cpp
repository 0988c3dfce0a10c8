// Test-time shifts for the final models (the beyond preset): their probabilities over
// each image and its one-pixel moves, used by the ensemble when validation says so.
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/stats.hpp"
#include "sgdlab/engine/tta.hpp"
#include "sgdlab/study/ensemble.hpp"
#include "study_run.hpp"

namespace sgdlab::study {
namespace {

constexpr int kClasses = 10;

// [n, classes] into lane i of [n, lanes, classes].
void set_lane(std::vector<float>& p, const std::vector<float>& one, size_t n, int lanes, int i) {
  for (size_t r = 0; r < n; ++r)
    for (int k = 0; k < kClasses; ++k) p[(r * lanes + i) * kClasses + k] = one[r * kClasses + k];
}

int errors(const std::vector<float>& probs, const std::vector<int32_t>& labels) {
  const double acc = accuracy(vote({probs}, {1.0}, kClasses), labels);
  return int(std::lround((1 - acc) * double(labels.size())));
}

}  // namespace

nlohmann::json tta_figures(StudyContext& c, const std::string& m, const nlohmann::json& final) {
  const std::string dir = c.o.out + "/" + m;
  const int lanes = int(final["seeds"].size());
  const size_t nv = c.data.val.size(), nt = c.data.test.size();
  const std::vector<float> plain_val = read_floats(dir + "/final_val_probs.f32");
  std::vector<float> val(nv * lanes * kClasses), test(nt * lanes * kClasses);
  nlohmann::json plain_errors = nlohmann::json::array(), tta_errors = nlohmann::json::array();
  std::vector<double> test_acc;
  int plain_total = 0, tta_total = 0;
  for (int i = 0; i < lanes; ++i) {
    const std::string seed = std::to_string(final["seeds"][i].get<int>());
    const ModelCheckpoint net =
        load_model_checkpoint(dir + "/models/seed-" + seed + ".safetensors");
    const auto v = tta_probabilities(*c.backend, net.model, net.params, c.data.val, c.o.tta_shift);
    const auto t = tta_probabilities(*c.backend, net.model, net.params, c.data.test, c.o.tta_shift);
    set_lane(val, v, nv, lanes, i);
    set_lane(test, t, nt, lanes, i);
    const int before = errors(lane_probabilities(plain_val, nv, lanes, i, kClasses), c.data.val.y);
    const int after = errors(v, c.data.val.y);
    plain_errors.push_back(before);
    tta_errors.push_back(after);
    plain_total += before;
    tta_total += after;
    test_acc.push_back(accuracy(vote({t}, {1.0}, kClasses), c.data.test.y));
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
