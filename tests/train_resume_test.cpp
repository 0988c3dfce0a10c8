// Keep, resume, predict, through the sgdlab binary: a run killed with SIGKILL in the
// middle of an epoch and resumed ends bit for bit where an uninterrupted run ends;
// resuming with other settings is refused; predict and evaluate agree with training.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "sgdlab/engine/checkpoint.hpp"
#include "tests/data_files.hpp"

namespace sgdlab::test {
namespace {

const std::string kSettings =
    " --model cnn --epochs 5 --batch 16 --lr 0.02,0.01 --seed 3,4 --dropout 0.3 --device cpu "
    "--quiet --checkpoint-every 1 --save";

int lines_in(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

// The epoch of the run's resume checkpoint, 0 while there is none (it is written whole,
// by a rename, so a read never sees half of it).
int checkpoint_epoch(const std::string& out) {
  try {
    return load_resume_checkpoint(out + "/checkpoint.safetensors").state.epoch;
  } catch (const std::exception&) {
    return 0;
  }
}

// Starts `sgdlab train` and kills it with SIGKILL once the checkpoint after epoch 2 is
// there, that is, early in epoch 3. (Waiting for metrics lines instead raced the
// checkpoint's write: under ASan it lost.)
void train_and_kill(const std::string& data, const std::string& out, const std::string& settings) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = sgdlab_binary() + " train --data " + data + " --out " + out + settings +
                            " > /dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (checkpoint_epoch(out) < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // into epoch 3
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed";
  ASSERT_FALSE(std::filesystem::exists(out + "/result.json"));
}

// Trains with `settings` whole, and again killed in epoch 3 and resumed: the same bits.
void expect_resume_bit_identical(const std::string& settings) {
  TempDir dir;
  write_small_usps(dir / "data", 1600, 200);
  std::string log;
  ASSERT_EQ(run_command(sgdlab_binary() + " train --data " + (dir / "data") + " --out " +
                            (dir / "whole") + settings,
                        &log),
            0)
      << log;
  train_and_kill(dir / "data", dir / "killed", settings);
  const auto saved = load_resume_checkpoint(dir / "killed/checkpoint.safetensors");
  EXPECT_GE(saved.state.epoch, 2);
  EXPECT_LT(saved.state.epoch, 5);
  ASSERT_EQ(run_command(sgdlab_binary() + " train --data " + (dir / "data") + " --resume " +
                            (dir / "killed") + settings,
                        &log),
            0)
      << log;
  for (const char* lane : {"lane-0", "lane-1"}) {
    const auto a = load_model_checkpoint(dir / "whole/models/" + lane + ".safetensors");
    const auto b = load_model_checkpoint(dir / "killed/models/" + lane + ".safetensors");
    EXPECT_EQ(a.params, b.params) << lane;
    EXPECT_EQ(a.epoch, 5);
  }
  EXPECT_EQ(lines_in(dir / "killed/metrics.jsonl"), 10);  // no epoch lost or repeated
  const auto ra = nlohmann::json::parse(read_bytes(dir / "whole/result.json"));
  const auto rb = nlohmann::json::parse(read_bytes(dir / "killed/result.json"));
  EXPECT_EQ(ra["lanes"], rb["lanes"]);
}

TEST(Resume, KilledMidEpochAndResumedGivesBitIdenticalWeights) {
  expect_resume_bit_identical(kSettings);
}

// Batch norm's running statistics, AdamW's moments and the moving average are in the
// resume checkpoint.
TEST(Resume, BatchNormWithAdamWAndEmaKilledAndResumedGivesBitIdenticalWeights) {
  expect_resume_bit_identical(
      std::string(" --model ") + SGDLAB_TESTS_DIR +
      "/../data/models/cnn-bn.json --optimizer adamw --epochs 5 "
      "--batch 16 --lr 0.002,0.001 --weight-decay 0.05 --seed 3,4 "
      "--dropout 0.3 --ema 0.99,0 --schedule cosine --augment shift=1,rotate=10,alpha=6,sigma=2 "
      "--device cpu "
      "--quiet --checkpoint-every 1 --save");
}

TEST(Resume, OtherSettingsAMissingCheckpointAndAnUsedFolderAreRefused) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string base = sgdlab_binary() + " train --data " + (dir / "data") + " --device cpu " +
                           "--quiet --model mlp --checkpoint-every 1";
  std::string out;
  ASSERT_EQ(run_command(base + " --epochs 2 --out " + (dir / "run"), &out), 0) << out;
  EXPECT_EQ(run_command(base + " --epochs 2 --out " + (dir / "run"), &out), 2);
  EXPECT_NE(out.find("already holds a run"), std::string::npos) << out;
  EXPECT_EQ(run_command(base + " --epochs 3 --lr 0.05 --resume " + (dir / "run"), &out), 2);
  EXPECT_NE(out.find("other settings than the checkpoint's: lr 0.05 (the checkpoint has 0.01)"),
            std::string::npos)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(run_command(base + " --epochs 3 --resume " + (dir / "run"), &out), 0) << out;
  EXPECT_EQ(lines_in(dir / "run/metrics.jsonl"), 3);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_EQ(run_command(base + " --resume " + (dir / "empty"), &out), 2);
  EXPECT_NE(out.find("no checkpoint.safetensors there"), std::string::npos) << out;
  EXPECT_EQ(run_command(base + " --epochs 2 --out " + (dir / "run") + " --overwrite", &out), 0)
      << out;
}

// A lane setting recorded only where it is not at its default (label smoothing) is
// compared over every lane: a change in the second lane alone is named.
TEST(Resume, ASettingOtherInOneLaneOnlyIsNamed) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string base = sgdlab_binary() + " train --data " + (dir / "data") + " --device cpu " +
                           "--quiet --model mlp --checkpoint-every 1 --seed 1,2";
  std::string out;
  ASSERT_EQ(run_command(base + " --epochs 1 --label-smoothing 0,0.1 --out " + (dir / "run"), &out),
            0)
      << out;
  EXPECT_EQ(
      run_command(base + " --epochs 2 --label-smoothing 0,0.2 --resume " + (dir / "run"), &out), 2);
  EXPECT_NE(out.find("label_smoothing 0,0.2 (the checkpoint has 0,0.1)"), std::string::npos) << out;
  EXPECT_EQ(run_command(base + " --epochs 2 --label-smoothing 0 --resume " + (dir / "run"), &out),
            2);
  EXPECT_NE(out.find("label_smoothing 0,0 (the checkpoint has 0,0.1)"), std::string::npos) << out;
  EXPECT_EQ(run_command(base + " --epochs 2 --resume " + (dir / "run"), &out), 0) << out;
}

// predict's accuracy on the test split is the trained run's test accuracy, to the last
// digit (the same network, the same images); evaluate's confusion matrix covers them.
TEST(Predict, AgreesWithTrainingAndEvaluateCountsEveryImage) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " train --data " + real_data_dir() +
                            " --device cpu --quiet --model mlp --epochs 2 --lr 0.05 --save --out " +
                            (dir / "run"),
                        &out),
            0)
      << out;
  const std::string ckpt = dir / "run/models/lane-0.safetensors";
  ASSERT_EQ(run_command(sgdlab_binary() + " predict --device cpu --checkpoint " + ckpt +
                            " --data " + real_data_dir() + " --out " + (dir / "p.csv"),
                        &out),
            0)
      << out;
  EXPECT_EQ(lines_in(dir / "p.csv"), 2008);  // header and 2,007 images
  ASSERT_EQ(run_command(sgdlab_binary() + " evaluate --device cpu --checkpoint " + ckpt +
                            " --data " + real_data_dir() + " --json " + (dir / "e.json"),
                        &out),
            0)
      << out;
  const auto e = nlohmann::json::parse(read_bytes(dir / "e.json"));
  const auto result = nlohmann::json::parse(read_bytes(dir / "run/result.json"));
  EXPECT_EQ(e["accuracy"].get<double>(), result["lanes"][0]["test_acc"].get<double>());
  int total = 0;
  for (const auto& row : e["confusion_matrix"])
    for (const auto& v : row) total += v.get<int>();
  EXPECT_EQ(total, 2007);
  EXPECT_EQ(e["per_class_accuracy"].size(), 10u);
  // A checkpoint whose model does not fit the data: one line, exit 2.
  write_usps_as_idx(dir / "idx", load_usps({real_data_dir()}), 600, 300);
  EXPECT_EQ(run_command(sgdlab_binary() + " evaluate --device cpu --checkpoint " + ckpt +
                            " --data " + (dir / "idx"),
                        &out),
            2);
  EXPECT_NE(out.find("the images are 1x28x28"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  // Test-time shifts: a shift that leaves nothing of a 16x16 image, or no number, is one
  // line and exit 2; one pixel gives every image a row again.
  const std::string evaluate = sgdlab_binary() + " evaluate --device cpu --checkpoint " + ckpt +
                               " --data " + real_data_dir() + " --tta-shift ";
  for (const auto& [shift, expect] : std::vector<std::pair<std::string, std::string>>{
           {"16", "--tta-shift: 16 pixels moves a 16x16 image out of view"},
           {"-1", "--tta-shift: expected one non-negative integer"},
           {"one", "--tta-shift: expected one non-negative integer"}}) {
    EXPECT_EQ(run_command(evaluate + shift, &out), 2) << shift;
    EXPECT_NE(out.find(expect), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
  ASSERT_EQ(run_command(evaluate + "1 --json " + (dir / "shifted.json"), &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(read_bytes(dir / "shifted.json"))["images"], 2007);
}

// On IDX data: a LeNet-5 file trained on the USPS digits as 28x28 IDX images, saved,
// then evaluated on that data's test split with the checkpoint's own scaling.
TEST(Predict, WorksOnIdxData) {
  TempDir dir;
  write_usps_as_idx(dir / "idx", load_usps({real_data_dir()}), 600, 300);
  const std::string lenet = std::string(SGDLAB_TESTS_DIR) + "/../data/models/lenet5.json";
  std::string out;
  ASSERT_EQ(
      run_command(sgdlab_binary() + " train --data " + (dir / "idx") + " --model " + lenet +
                      " --device cpu --quiet --epochs 2 --lr 0.05 --save --out " + (dir / "run"),
                  &out),
      0)
      << out;
  ASSERT_EQ(run_command(sgdlab_binary() + " evaluate --device cpu --checkpoint " +
                            (dir / "run/models/lane-0.safetensors") + " --data " + (dir / "idx") +
                            " --json " + (dir / "e.json"),
                        &out),
            0)
      << out;
  const auto e = nlohmann::json::parse(read_bytes(dir / "e.json"));
  const auto result = nlohmann::json::parse(read_bytes(dir / "run/result.json"));
  EXPECT_EQ(e["images"].get<int>(), 300);
  EXPECT_EQ(e["accuracy"].get<double>(), result["lanes"][0]["test_acc"].get<double>());
}

}  // namespace
}  // namespace sgdlab::test
