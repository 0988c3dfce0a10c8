// A study killed with SIGKILL at several points and resumed each time gives the same
// report.json figures as an uninterrupted one (issue #14, 4): the retried trials keep
// their numbers and seeds, and every cached stage is reused or redone identically.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// The report without what depends on the clock or the machine: seconds and the device.
nlohmann::json figures(nlohmann::json j) {
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      const bool timing = k == "seconds" || k == "device" ||
                          (k.size() > 8 && k.compare(k.size() - 8, 8, "_seconds") == 0);
      if (!timing) out[k] = figures(it.value());
    }
    return out;
  }
  if (j.is_array())
    for (auto& v : j) v = figures(v);
  return j;
}

// Runs `cmd` with its output in `log`, and kills it with SIGKILL as soon as the log
// shows `marker`. Returns whether it was killed (false: it ended first).
bool kill_at(const std::string& cmd, const std::string& log, const std::string& marker) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > " + log + " 2>&1").c_str(), (char*)nullptr);
    _exit(127);
  }
  for (;;) {
    if (read_bytes(log).find(marker) != std::string::npos) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return true;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(StudyResume, KilledAtSeveralPointsAndResumedGivesTheUninterruptedFigures) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 100);
  const auto cmd = [&](const std::string& out) {
    return sgdlab_binary() + " study --preset quick --coarse 3 --fine 2 --epochs 1 --seeds 2 " +
           "--device cpu --no-figures --data " + (dir / "data") + " --out " + out;
  };
  std::string log;
  ASSERT_EQ(run_command(cmd(dir / "whole"), &log), 0) << log;
  // Inside a coarse sweep between packs, as the fine sweep starts, inside another model's
  // coarse sweep, while final models train, during an effect experiment.
  const std::vector<std::string> markers = {"[mlp-coarse] 1/", "== cnn: TPE", "[lcnn-coarse] 1/",
                                            "== lcnn: final", "== effect: lr_scaling on cnn"};
  int kills = 0;
  for (size_t i = 0; i < markers.size(); ++i)
    kills += kill_at(cmd(dir / "killed"), dir / ("log" + std::to_string(i)), markers[i]);
  EXPECT_GE(kills, 3) << "too few kills landed";
  ASSERT_EQ(run_command(cmd(dir / "killed"), &log), 0) << log;
  EXPECT_NE(log.find("resuming the study"), std::string::npos) << log;
  const auto whole = figures(nlohmann::json::parse(read_bytes(dir / "whole/report.json")));
  const auto killed = figures(nlohmann::json::parse(read_bytes(dir / "killed/report.json")));
  EXPECT_EQ(killed, whole) << "differences: " << nlohmann::json::diff(whole, killed).dump(1);
}

}  // namespace
}  // namespace sgdlab::test
