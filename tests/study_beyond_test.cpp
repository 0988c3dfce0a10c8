// sgdlab study --preset beyond on a small slice: the options beyond the paper are in the
// space and the final models; the report sets the presets side by side; and the
// command the report prints trains the final models again, bit for bit on the CPU.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// The study's test-time shifted probabilities of each final model are those that
// `sgdlab predict --tta-shift 1` gives for its checkpoint, and the report shows them.
void expect_study_tta_equals_predict(const TempDir& dir, const nlohmann::json& report) {
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    const auto& tta = report["models"][m]["final"]["tta"];
    ASSERT_TRUE(tta.is_object()) << m;
    EXPECT_EQ(tta["val_errors"].size(), 2u) << m;
    EXPECT_EQ(tta["val_errors_plain"].size(), 2u) << m;
  }
  const std::string study = dir / "study";
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " predict --device cpu --tta-shift 1 --checkpoint " +
                            study + "/lcnn/models/seed-2.safetensors --data " + (dir / "data") +
                            " --out " + (dir / "p.csv"),
                        &out),
            0)
      << out;
  const std::string floats = read_bytes(study + "/lcnn/final_test_probs_tta.f32");
  std::istringstream csv(read_bytes(dir / "p.csv"));
  std::string line;
  std::getline(csv, line);  // header
  size_t row = 0;
  for (; std::getline(csv, line); ++row)
    for (int k = 0; k < 10; ++k) {
      float stored;  // lane 1 (seed 2) of [n, 2 seeds, 10 classes]
      std::memcpy(&stored, floats.data() + ((row * 2 + 1) * 10 + k) * 4, 4);
      size_t at = 0;
      for (int comma = 0; comma < 2 + k; ++comma) at = line.find(',', at) + 1;
      EXPECT_EQ(std::strtof(line.c_str() + at, nullptr), stored) << row << " " << k;
    }
  EXPECT_EQ(row * 2 * 10 * 4, floats.size());
  EXPECT_NE(read_bytes(study + "/report.md").find("Test-time shifts"), std::string::npos);
}

TEST(StudyBeyond, FinalModelsTrainAgainWithThePrintedCommand) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 120);
  std::string out;
  const std::string study_command =
      sgdlab_binary() + " study --preset beyond --coarse 3 --fine 2 --epochs 2 " +
      "--seeds 2 --device cpu --no-figures --data " + (dir / "data") + " --out " + (dir / "study");
  ASSERT_EQ(run_command(study_command, &out), 0) << out;
  EXPECT_NE(out.find("final models with test-time shifts of 1 pixel"), std::string::npos) << out;
  const auto report = nlohmann::json::parse(read_bytes(dir / "study/report.json"));
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    const auto& trials = report["models"][m]["coarse"]["trials"];
    ASSERT_FALSE(trials.empty());
    for (const char* p : {"weight_decay", "augment", "schedule"})
      EXPECT_TRUE(trials[0]["params"].contains(p)) << m << " " << p;
  }
  EXPECT_TRUE(report["ensemble"]["all_seeds"].contains("test_acc"));
  expect_study_tta_equals_predict(dir, report);
  // Resumed, the shifted probabilities are kept, not computed again.
  const std::string probs_before = read_bytes(dir / "study/cnn/final_test_probs_tta.f32");
  ASSERT_EQ(run_command(study_command, &out), 0) << out;
  EXPECT_EQ(out.find("test-time shifts"), std::string::npos) << out;
  EXPECT_EQ(read_bytes(dir / "study/cnn/final_test_probs_tta.f32"), probs_before);
  EXPECT_EQ(nlohmann::json::parse(read_bytes(dir / "study/report.json"))["ensemble"],
            report["ensemble"]);
  const std::string md = read_bytes(dir / "study/report.md");
  EXPECT_NE(md.find("Table 1 beside the paper and the `paper` preset"), std::string::npos);
  // The CNN's final models again, with the printed command.
  const auto& fin = report["models"]["cnn"]["final"];
  const std::string command = fin["command"].get<std::string>();
  ASSERT_EQ(command.rfind("sgdlab train ", 0), 0u) << command;
  EXPECT_NE(md.find(command), std::string::npos);
  ASSERT_EQ(run_command(sgdlab_binary() + command.substr(6) + " --device cpu --quiet --out " +
                            (dir / "again"),
                        &out),
            0)
      << command << "\n"
      << out;
  const auto result = nlohmann::json::parse(read_bytes(dir / "again/result.json"));
  ASSERT_EQ(result["lanes"].size(), fin["test_acc"].size());
  for (size_t i = 0; i < fin["test_acc"].size(); ++i) {
    EXPECT_EQ(result["lanes"][i]["test_acc"].get<double>(), fin["test_acc"][i].get<double>());
    EXPECT_EQ(result["lanes"][i]["val_acc"].get<double>(), fin["val_acc"][i].get<double>());
  }
}

// The per-step schedules and label smoothing too: the printed command names the
// schedule, its warm-up and the smoothing, and trains the final models again bit for bit.
TEST(StudyBeyond, PrintedCommandCarriesPerStepSchedules) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 120);
  const char* spaces[] = {
      R"({"schedule": {"type": "categorical", "choices": [2]}, "warmup": {"type": "categorical", "choices": [1]}})",
      R"({"schedule": {"type": "categorical", "choices": [3]}, "label_smoothing": {"type": "uniform", "low": 0.1, "high": 0.1}})"};
  const std::vector<std::vector<std::string>> flags = {
      {"--schedule cosine-per-step --warmup 1"},
      {"--schedule onecycle:0.3", "--label-smoothing 0.100000001"}};  // the float, 9 digits
  for (int i = 0; i < 2; ++i) {
    const std::string study = dir / ("study" + std::to_string(i));
    std::string out;
    ASSERT_EQ(run_command(sgdlab_binary() + " study --preset beyond --models mlp --coarse 2 " +
                              "--fine 1 --epochs 2 --seeds 2 --device cpu --no-figures --space '" +
                              spaces[i] + "' --data " + (dir / "data") + " --out " + study,
                          &out),
              0)
        << out;
    const auto fin =
        nlohmann::json::parse(read_bytes(study + "/report.json"))["models"]["mlp"]["final"];
    const std::string command = fin["command"].get<std::string>();
    for (const std::string& flag : flags[i])
      EXPECT_NE(command.find(flag), std::string::npos) << command;
    ASSERT_EQ(run_command(sgdlab_binary() + command.substr(6) + " --device cpu --quiet --out " +
                              study + "/again",
                          &out),
              0)
        << command << "\n"
        << out;
    const auto result = nlohmann::json::parse(read_bytes(study + "/again/result.json"));
    ASSERT_EQ(result["lanes"].size(), fin["test_acc"].size());
    for (size_t k = 0; k < fin["test_acc"].size(); ++k)
      EXPECT_EQ(result["lanes"][k]["test_acc"].get<double>(), fin["test_acc"][k].get<double>());
  }
}

}  // namespace
}  // namespace sgdlab::test
