// sgdlab study end to end on a small slice of the data: every report part is there,
// and running the same command again finishes the same study without redoing work.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sgdlab/search/storage.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(Study, ProducesEveryReportPartAndResumesWithoutRedoingWork) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 120);
  const std::string cmd = sgdlab_binary() + " study --coarse 4 --fine 2 --epochs 1 --seeds 2 " +
                          "--device cpu --no-figures --data " + (dir / "data") + " --out " +
                          (dir / "study");
  std::string first, second;
  ASSERT_EQ(run_command(cmd, &first), 0) << first;
  const auto report = nlohmann::json::parse(read_bytes(dir / "study/report.json"));
  for (const char* m : {"mlp", "cnn", "lcnn"}) {
    ASSERT_TRUE(report["models"].contains(m)) << m;
    EXPECT_EQ(report["models"][m]["coarse"]["trials"].size(), 4u);
    EXPECT_EQ(report["models"][m]["fine"]["trials"].size(), 2u);
    EXPECT_EQ(report["models"][m]["final"]["test_acc"].size(), 2u);
    EXPECT_EQ(report["effects"]["init"][m]["lanes"].size(), 3u);
    EXPECT_EQ(report["effects"]["lr_scaling"][m]["lanes"].size(), 4u);
    // Test-time shifts belong to the beyond preset only: the paper's protocol has none.
    EXPECT_FALSE(report["models"][m]["final"].contains("tta")) << m;
    EXPECT_FALSE(
        std::filesystem::exists(dir / ("study/" + std::string(m) + "/final_val_probs_tta.f32")))
        << m;
  }
  EXPECT_EQ(report["effects"]["batch"]["cnn"]["lanes"].size(), 2u);
  EXPECT_EQ(report["effects"]["momentum"]["cnn"]["lanes"].size(), 3u);
  EXPECT_EQ(report["effects"]["dropout"]["mlp"]["lanes"].size(), 3u);
  EXPECT_EQ(report["ensemble"]["per_seed"].size(), 2u);
  const std::string md = read_bytes(dir / "study/report.md");
  for (const char* part :
       {"Table 1", "Narrowed search intervals", "Ensemble", "Confusion matrix", "Table 2",
        "Correlation", "Learning-rate scaling", "CNN batch size", "CNN momentum", "MLP dropout"})
    EXPECT_NE(md.find(part), std::string::npos) << part;

  const std::string final_before = read_bytes(dir / "study/cnn/final.json");
  ASSERT_EQ(run_command(cmd, &second), 0) << second;
  EXPECT_NE(second.find("resuming the study"), std::string::npos) << second;
  EXPECT_NE(second.find("final models already trained"), std::string::npos) << second;
  EXPECT_EQ(second.find("== effect:"), std::string::npos) << "an effect experiment ran again:\n"
                                                          << second;
  EXPECT_EQ(read_bytes(dir / "study/cnn/final.json"), final_before);
  StudyStorage storage(dir / "study/study.db");
  EXPECT_EQ(storage.trials(storage.find_study("cnn-coarse")->first).size(), 4u);

  // Other settings in the same folder are refused rather than mixed in.
  std::string third;
  EXPECT_NE(run_command(sgdlab_binary() +
                            " study --coarse 5 --fine 2 --epochs 1 --seeds 2 --device cpu " +
                            "--no-figures --data " + (dir / "data") + " --out " + (dir / "study"),
                        &third),
            0);
  EXPECT_NE(third.find("holds a study with other settings"), std::string::npos) << third;
}

TEST(Study, BadInputWritesNothing) {
  TempDir dir;
  std::string out;
  EXPECT_NE(run_command(sgdlab_binary() + " study --preset quick --device cpu --data " +
                            (dir / "missing") + " --out " + (dir / "study"),
                        &out),
            0);
  EXPECT_NE(out.find("missing: no such file or folder"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "study"));
  EXPECT_NE(run_command(sgdlab_binary() + " study --preset huge --out " + (dir / "study"), &out),
            0);
  EXPECT_NE(out.find("--preset: expected paper, quick, beyond or record"), std::string::npos)
      << out;
  EXPECT_NE(run_command(sgdlab_binary() + " study --models cnn,vgg --out " + (dir / "study"), &out),
            0);
  EXPECT_NE(out.find("--model vgg: expected a preset (mlp, cnn, lcnn) or a model file"),
            std::string::npos)
      << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "study"));
}

// An --out that cannot be a folder (a file is in the way) is the user's mistake: one line
// naming it, exit code 2 (it was an uncaught filesystem error, exit code 1).
TEST(Study, AnOutUnderAFileIsOneLineAndExitCodeTwo) {
  TempDir dir;
  write_bytes(dir / "file", "x");
  std::string out;
  EXPECT_EQ(run_command(sgdlab_binary() + " study --preset quick --device cpu --data " +
                            real_data_dir() + " --out " + (dir / "file/study"),
                        &out),
            2);
  EXPECT_NE(out.find("sgdlab: --out " + (dir / "file/study") + ": cannot create the folder"),
            std::string::npos)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace sgdlab::test
