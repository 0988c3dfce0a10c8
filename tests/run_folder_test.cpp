// A train run's folder as a hostile user treats it (issue #22): --overwrite replaces the
// whole run, and only once the new one is safe; two processes never write one folder;
// SIGINT and SIGTERM stop with a checkpoint and say how to go on; `--resume DIR` alone
// continues with the recorded settings; what --out names is said as it is.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "sgdlab/engine/checkpoint.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

const std::string kQuick = " --device cpu --quiet --model mlp --batch 16";

std::string train(const TempDir& dir, const std::string& args) {
  return sgdlab_binary() + " train --data " + (dir / "data") + kQuick + " " + args;
}

int lines_in(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

int count_lines(const std::string& text) {
  return int(std::count(text.begin(), text.end(), '\n'));
}

// `sgdlab train ARGS` in the background, its output in `log`; the caller waits.
pid_t start_train(const TempDir& dir, const std::string& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = "exec " + train(dir, args) + " > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits (at most two minutes) until `ready` holds.
template <class F>
bool wait_for(F ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int exit_code_of(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Defect 3: the old run's models and checkpoint went on beside the new run's files, and
// predict silently used the old network.
TEST(RunFolder, OverwriteReplacesTheWholeRun) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  std::string out;
  ASSERT_EQ(run_command(train(dir, "--epochs 1 --lr 0.05,0.01 --save --checkpoint-every 1 --out " +
                                       (dir / "run")),
                        &out),
            0)
      << out;
  ASSERT_TRUE(fs::exists(dir / "run/models/lane-1.safetensors"));
  ASSERT_EQ(run_command(train(dir, "--epochs 1 --overwrite --out " + (dir / "run")), &out), 0)
      << out;
  EXPECT_EQ(names_in(dir / "run"), (std::vector<std::string>{"config.json", "metrics.csv",
                                                             "metrics.jsonl", "result.json"}));
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"data", "run"}))
      << "the hidden folder of the new run is gone";
  const auto config = nlohmann::json::parse(read_bytes(dir / "run/config.json"));
  EXPECT_EQ(config["lanes"].size(), 1u);
}

// A new run that fails (here a full disk: a file-size limit with its signal ignored)
// leaves the old run whole: its metrics, models and config as they were.
TEST(RunFolder, AFailedOverwriteKeepsTheOldRun) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  std::string out;
  ASSERT_EQ(run_command(train(dir, "--epochs 2 --save --out " + (dir / "run")), &out), 0) << out;
  const std::string metrics = read_bytes(dir / "run/metrics.jsonl");
  const std::string config = read_bytes(dir / "run/config.json");
  EXPECT_EQ(run_command("trap '' XFSZ; ulimit -f 1; exec " +
                            train(dir, "--epochs 2 --overwrite --out " + (dir / "run")),
                        &out),
            2)
      << out;
  EXPECT_EQ(count_lines(out), 1) << out;
  EXPECT_EQ(read_bytes(dir / "run/metrics.jsonl"), metrics);
  EXPECT_EQ(read_bytes(dir / "run/config.json"), config);
  EXPECT_TRUE(fs::exists(dir / "run/models/lane-0.safetensors"));
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"data", "run"}));
}

// Defect 4: a second writer beside a running run corrupted its metrics, and both exited
// 0. Now it is one line naming the holder's pid; then SIGTERM stops the first with a
// checkpoint (exit 143) and the line that says how to resume.
TEST(RunFolder, ASecondWriterIsRefusedWithThePidAndSigtermStopsWithACheckpoint) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string run = dir / "run";
  const pid_t first =
      start_train(dir, "--epochs 100000 --checkpoint-every 1 --out " + run, dir / "first.log");
  ASSERT_TRUE(wait_for([&] { return fs::exists(run + "/checkpoint.safetensors"); }));
  const std::string holder = "is in use by pid " + std::to_string(first);
  std::string out;
  EXPECT_EQ(run_command(train(dir, "--epochs 3 --overwrite --out " + run), &out), 2) << out;
  EXPECT_NE(out.find("--out " + run + ": " + holder), std::string::npos) << out;
  EXPECT_EQ(count_lines(out), 1) << out;
  EXPECT_EQ(run_command(train(dir, "--resume " + run), &out), 2) << out;
  EXPECT_NE(out.find("--resume " + run + ": " + holder), std::string::npos) << out;
  kill(first, SIGTERM);
  EXPECT_EQ(exit_code_of(first), 143);
  const std::string log = read_bytes(dir / "first.log");
  EXPECT_NE(log.find("sgdlab: interrupted by SIGTERM after epoch "), std::string::npos) << log;
  EXPECT_NE(log.find("continue with: sgdlab train --resume " + run), std::string::npos) << log;
  // Every epoch in the metrics is in the checkpoint, and the lock is gone with its owner.
  const int epoch = load_resume_checkpoint(run + "/checkpoint.safetensors").state.epoch;
  EXPECT_EQ(lines_in(run + "/metrics.jsonl"), epoch);
  EXPECT_FALSE(fs::exists(run + "/.lock"));
}

// SIGINT between checkpoints (every 1000 epochs): the run writes one of the epoch it
// ended, exits 130, and `--resume DIR --epochs N` goes on from there.
TEST(RunFolder, SigintWritesACheckpointOfTheLastEpoch) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string run = dir / "run";
  const pid_t pid =
      start_train(dir, "--epochs 100000 --checkpoint-every 1000 --out " + run, dir / "log");
  ASSERT_TRUE(wait_for([&] { return lines_in(run + "/metrics.jsonl") >= 2; }));
  kill(pid, SIGINT);
  EXPECT_EQ(exit_code_of(pid), 130);
  const std::string log = read_bytes(dir / "log");
  EXPECT_NE(log.find("sgdlab: interrupted by SIGINT"), std::string::npos) << log;
  const int epoch = load_resume_checkpoint(run + "/checkpoint.safetensors").state.epoch;
  EXPECT_GE(epoch, 2);
  EXPECT_EQ(lines_in(run + "/metrics.jsonl"), epoch);
  std::string out;
  EXPECT_EQ(
      run_command(train(dir, "--resume " + run + " --epochs " + std::to_string(epoch + 1)), &out),
      0)
      << out;
  EXPECT_EQ(lines_in(run + "/metrics.jsonl"), epoch + 1);
}

// SIGINT in an --overwrite that has no checkpoint yet: the old run stays as it was.
TEST(RunFolder, SigintBeforeTheNewRunIsSafeKeepsTheOldRun) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string run = dir / "run";
  std::string out;
  ASSERT_EQ(run_command(train(dir, "--epochs 1 --save --out " + run), &out), 0) << out;
  const std::string metrics = read_bytes(run + "/metrics.jsonl");
  const pid_t pid = start_train(dir, "--epochs 100000 --overwrite --out " + run, dir / "log");
  ASSERT_TRUE(wait_for([&] {
    for (const auto& name : names_in(dir.path()))
      if (name.rfind(".run.new-", 0) == 0 && lines_in(dir / name + "/metrics.jsonl") >= 1)
        return true;
    return false;
  }));
  kill(pid, SIGINT);
  EXPECT_EQ(exit_code_of(pid), 130);
  const std::string log = read_bytes(dir / "log");
  EXPECT_NE(log.find("no checkpoint, so the run already in " + run + " is kept"), std::string::npos)
      << log;
  EXPECT_EQ(read_bytes(run + "/metrics.jsonl"), metrics);
  EXPECT_TRUE(fs::exists(run + "/models/lane-0.safetensors"));
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"data", "log", "run"}));
}

// `--resume DIR` alone continues with the run's recorded settings (it was refused when
// the flags were not given again: the defaults were compared); a flag given again that
// differs is named alone, not as the whole lanes JSON; --out beside it is refused.
TEST(RunFolder, ResumeAloneContinuesWithTheRecordedSettings) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string settings = " --lr 0.05,0.02 --seed 3,4 --dropout 0.1 --checkpoint-every 1";
  std::string out;
  ASSERT_EQ(run_command(train(dir, "--epochs 3" + settings + " --out " + (dir / "whole")), &out), 0)
      << out;
  ASSERT_EQ(run_command(train(dir, "--epochs 2" + settings + " --out " + (dir / "run")), &out), 0)
      << out;
  EXPECT_EQ(
      run_command(sgdlab_binary() + " train --resume " + (dir / "run") + " --lr 0.05,0.03", &out),
      2);
  EXPECT_NE(out.find("other settings than the checkpoint's: lr 0.05,0.03 (the checkpoint has "
                     "0.05,0.02)"),
            std::string::npos)
      << out;
  EXPECT_EQ(count_lines(out), 1) << out;
  EXPECT_EQ(
      run_command(
          sgdlab_binary() + " train --resume " + (dir / "run") + " --out " + (dir / "other"), &out),
      2);
  EXPECT_NE(out.find("--out: cannot go with --resume"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "other"));
  ASSERT_EQ(run_command(sgdlab_binary() + " train --resume " + (dir / "run") + " --epochs 3", &out),
            0)
      << out;
  const auto a = nlohmann::json::parse(read_bytes(dir / "whole/result.json"));
  const auto b = nlohmann::json::parse(read_bytes(dir / "run/result.json"));
  EXPECT_EQ(a["lanes"], b["lanes"]);  // the same run, to the last bit of every figure
}

// What --out names, said as it is: a file, a folder of other things, a run without a
// checkpoint (a run killed before its first one: --resume would not help).
TEST(RunFolder, WhatOutHoldsIsSaidAsItIs) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  write_bytes(dir / "file", "x");
  fs::create_directories(dir / "photos");
  write_bytes(dir / "photos/a.jpg", "x");
  std::string out;
  ASSERT_EQ(run_command(train(dir, "--epochs 1 --out " + (dir / "run")), &out), 0) << out;
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"--out " + (dir / "file"), "--out " + (dir / "file") + ": is a file, not a folder"},
           {"--out " + (dir / "photos"), "is a folder that holds no sgdlab train run"},
           {"--overwrite --out " + (dir / "photos"), "is a folder that holds no sgdlab train run"},
           {"--out " + (dir / "run"), "already holds a run, which has no checkpoint to resume"}}) {
    EXPECT_EQ(run_command(train(dir, "--epochs 1 " + args), &out), 2) << args;
    EXPECT_NE(out.find(expect), std::string::npos) << out;
    EXPECT_EQ(out.find("--resume"), std::string::npos) << out;
    EXPECT_EQ(count_lines(out), 1) << out;
  }
  EXPECT_EQ(read_bytes(dir / "file"), "x");
  EXPECT_EQ(names_in(dir / "photos"), std::vector<std::string>{"a.jpg"});
  // The lock file that a run killed (SIGKILL) before its first file left: an empty folder.
  fs::create_directories(dir / "killed");
  write_bytes(dir / "killed/.lock", "999999\n");
  EXPECT_EQ(run_command(train(dir, "--epochs 1 --out " + (dir / "killed")), &out), 0) << out;
  EXPECT_FALSE(fs::exists(dir / "killed/.lock"));
}

}  // namespace
}  // namespace sgdlab::test
