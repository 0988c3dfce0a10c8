// sgdlab study --preset record on a small slice: its defaults (the architectures, the
// objective, the narrowing, the widest space), no effect experiments, an ensemble over
// the architectures with simplex weights, and the list of misclassified test digits
// that the report's figure draws, checked against the final models' own probabilities.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sgdlab/core/argmax.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

const std::vector<std::string> kArchitectures = {"cnn", "data/models/cnn-bn.json",
                                                 "data/models/cnn-deep.json"};

std::vector<float> read_f32(const std::string& path) {
  const std::string bytes = read_bytes(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// A model's folder in the study: a model file's path made into one name.
std::string folder_of(const std::string& model) {
  std::string key = model;
  for (char& ch : key)
    if (ch == '/') ch = '_';
  return key;
}

// The ensemble of every final model, recomputed from the probability files the study
// wrote: each architecture's seeds averaged, weighted as the report says.
std::vector<int> recomputed_vote(const std::string& study, const nlohmann::json& report,
                                 int seeds) {
  const auto& all = report["ensemble"]["all_seeds"];
  std::vector<double> score;
  for (const auto& m : kArchitectures) {
    const bool tta = report["models"][m]["final"]["tta"].value("used", false);
    const auto p =
        read_f32(study + "/" + folder_of(m) + "/final_test_probs" + (tta ? "_tta" : "") + ".f32");
    const size_t n = p.size() / size_t(seeds * 10);
    score.resize(n * 10, 0.0);
    const double w = all["weights"][m].get<double>();
    for (size_t r = 0; r < n; ++r)
      for (int s = 0; s < seeds; ++s)
        for (int k = 0; k < 10; ++k)
          score[r * 10 + k] += w * double(p[(r * seeds + s) * 10 + k] / float(seeds));
  }
  std::vector<int> vote(score.size() / 10);
  for (size_t r = 0; r < vote.size(); ++r) vote[r] = argmax_first(&score[r * 10], 10);
  return vote;
}

TEST(StudyRecord, EnsemblesTheArchitecturesAndListsEveryMisclassifiedDigit) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 120);
  std::string out;
  // From the repository's root, where the preset's model files are.
  ASSERT_EQ(run_command("cd " + std::string(SGDLAB_TESTS_DIR) + "/.. && " + sgdlab_binary() +
                            " study --preset record --coarse 2 --fine 1 --epochs 2 --seeds 2 "
                            "--device cpu --no-figures --data " +
                            (dir / "data") + " --out " + (dir / "study"),
                        &out),
            0)
      << out;
  const auto report = nlohmann::json::parse(read_bytes(dir / "study/report.json"));
  const auto& cfg = report["config"];
  EXPECT_EQ(cfg["models"].get<std::vector<std::string>>(), kArchitectures);
  EXPECT_EQ(cfg["objective"], "distorted_acc");
  EXPECT_EQ(cfg["objective_epochs"], 2);  // 5, cut to the run's 2 epochs
  EXPECT_EQ(cfg["narrow_choices"], "seen");
  for (const auto& m : kArchitectures) {
    const auto& params = report["models"][m]["coarse"]["trials"][0]["params"];
    for (const char* p : {"shift", "rotate", "scale", "nesterov", "schedule", "warmup",
                          "elastic_alpha", "elastic_sigma", "label_smoothing", "weight_decay"})
      EXPECT_TRUE(params.contains(p)) << m << " " << p;
    EXPECT_TRUE(report["models"][m]["final"]["tta"].is_object()) << m;
  }
  EXPECT_FALSE(report.contains("effects"));
  // Each model's files in one folder of its own directly under --out.
  EXPECT_TRUE(std::filesystem::exists(dir / "study/data_models_cnn-deep.json/final.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "study/data"));
  EXPECT_EQ(out.find("== effect"), std::string::npos) << out;

  const auto& ens = report["ensemble"];
  EXPECT_EQ(ens["models"].get<std::vector<std::string>>(), kArchitectures);
  EXPECT_EQ(ens["weights_rule"], "simplex");
  for (const auto& s : ens["per_seed"]) {
    double sum = 0;
    for (const auto& m : kArchitectures) sum += s["weights"][m].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
  const auto& all = ens["all_seeds"];
  const auto& wrong = all["misclassified"];
  const std::vector<int> vote = recomputed_vote(dir / "study", report, 2);
  ASSERT_EQ(vote.size(), 120u);
  // As many digits as the reported accuracy leaves wrong, each one as the vote has it.
  EXPECT_EQ(double(wrong.size()), std::round((1 - all["test_acc"].get<double>()) * 120));
  for (const auto& w : wrong) {
    const size_t i = w["index"].get<size_t>();
    ASSERT_LT(i, vote.size());
    EXPECT_EQ(w["predicted"].get<int>(), vote[i]) << i;
    EXPECT_NE(w["predicted"], w["label"]) << i;
    EXPECT_GE(w["p_predicted"].get<double>(), w["p_label"].get<double>()) << i;
    EXPECT_EQ(w["pixels"].size(), 256u) << i;
  }

  const std::string md = read_bytes(dir / "study/report.md");
  for (const char* part :
       {"The record: test error beside the best published results", "Keysers et al., ICPR 2000",
        "| w data/models/cnn-deep.json |", "figures/misclassified.png", "figures/kde_cnn-bn.png"})
    EXPECT_NE(md.find(part), std::string::npos) << part;
  EXPECT_EQ(md.find("Table 2"), std::string::npos);  // no effect experiments
}

// An explicit choice beats the preset's, and an empty --models is a mistake.
TEST(StudyRecord, ExplicitOptionsOverrideThePresetsDefaults) {
  TempDir dir;
  write_small_usps(dir / "data", 200, 60);
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " study --preset record --models mlp,cnn --coarse 2 " +
                            "--fine 1 --epochs 2 --seeds 2 --objective val_acc " +
                            "--objective-epochs 1 --narrow-choices mode --device cpu " +
                            "--no-figures --data " + (dir / "data") + " --out " + (dir / "study"),
                        &out),
            0)
      << out;
  const auto report = nlohmann::json::parse(read_bytes(dir / "study/report.json"));
  EXPECT_EQ(report["config"]["models"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"mlp", "cnn"}));
  EXPECT_FALSE(report["config"].contains("objective"));  // val_acc, the default, is not written
  EXPECT_FALSE(report["config"].contains("narrow_choices"));
  EXPECT_EQ(report["ensemble"]["weights_rule"], "simplex");  // not the paper's three models

  // A model file reached through ".." keeps its files inside --out.
  std::filesystem::create_directories(dir / "work");
  std::filesystem::copy_file(std::string(SGDLAB_TESTS_DIR) + "/../data/models/cnn-bn.json",
                             dir / "m.json");
  ASSERT_EQ(run_command("cd " + (dir / "work") + " && " + sgdlab_binary() +
                            " study --preset quick --models ../m.json --coarse 2 --fine 1 " +
                            "--epochs 1 --seeds 2 --device cpu --no-figures --data " +
                            (dir / "data") + " --out study",
                        &out),
            0)
      << out;
  EXPECT_TRUE(std::filesystem::exists(dir / "work/study/_.._m.json/final.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "work/study/effects/init-_.._m.json.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "m.json/final.json"));

  EXPECT_EQ(run_command(sgdlab_binary() + " study --models , --out " + (dir / "other"), &out), 2);
  EXPECT_NE(out.find("sgdlab: --models: expected at least one model"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "other"));
}

}  // namespace
}  // namespace sgdlab::test
