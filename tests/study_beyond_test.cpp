// sgdlab study --preset beyond on a small slice: the options beyond the paper are in the
// space and the final models; the report sets the presets side by side; and the
// command the report prints trains the final models again, bit for bit on the CPU.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(StudyBeyond, FinalModelsTrainAgainWithThePrintedCommand) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 120);
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " study --preset beyond --coarse 3 --fine 2 " +
                            "--epochs 2 --seeds 2 --device cpu --no-figures --data " +
                            (dir / "data") + " --out " + (dir / "study"),
                        &out),
            0)
      << out;
  const auto report = nlohmann::json::parse(read_bytes(dir / "study/report.json"));
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    const auto& trials = report["models"][m]["coarse"]["trials"];
    ASSERT_FALSE(trials.empty());
    for (const char* p : {"weight_decay", "augment", "schedule"})
      EXPECT_TRUE(trials[0]["params"].contains(p)) << m << " " << p;
  }
  EXPECT_TRUE(report["ensemble"]["all_seeds"].contains("test_acc"));
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

}  // namespace
}  // namespace sgdlab::test
