// sgdlab sweep workers sharing one PostgreSQL study (issue #16; skipped without
// SGDLAB_TEST_POSTGRES): three workers finish every trial exactly once, and the trial of
// a worker killed with SIGKILL is asked again once the grace period has passed, not
// before. trials, narrow and export read the same study.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <set>

#include "sgdlab/search/storage.hpp"
#include "tests/postgres_util.hpp"

namespace sgdlab::test {
namespace {

// Starts `cmd` through the shell, which it replaces: the pid is the command's.
pid_t spawn(const std::string& cmd) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The trials "run now" by one worker, from its last line.
int ran_here(const std::string& out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex("\\((\\d+) run now")) ? std::stoi(m[1]) : -1;
}

std::string last_line(const std::string& out) {
  const size_t end = out.size() > 1 ? out.rfind('\n', out.size() - 2) : std::string::npos;
  return end == std::string::npos ? out : out.substr(end + 1);
}

TEST(SweepPostgres, ThreeWorkersFinishThirtyTrialsExactlyOnce) {
  SGDLAB_SKIP_WITHOUT_POSTGRES();
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  TempPostgresDb db;
  const std::string sweep = sgdlab_binary() +
                            " sweep --model mlp --trials 30 --epochs 1 --device cpu --data " +
                            (dir / "data") + " --name w --study " + shell_quote(db.url());
  std::vector<pid_t> workers;
  for (int w = 0; w < 3; ++w)
    workers.push_back(spawn(sweep + " > " + (dir / ("w" + std::to_string(w))) + " 2>&1"));
  int total = 0;
  for (int w = 0; w < 3; ++w) {
    EXPECT_EQ(exit_code(workers[w]), 0);
    const std::string out = read_bytes(dir / ("w" + std::to_string(w)));
    EXPECT_GE(ran_here(out), 0) << out;
    total += ran_here(out);
    // The password is never printed, only the URL without it.
    EXPECT_EQ(out.find(db.url()), std::string::npos) << out;
  }
  EXPECT_EQ(total, 30);
  StudyStorage s(db.url(), StorageMode::ReadOnly);
  const auto trials = s.trials(s.find_study("w")->first);
  ASSERT_EQ(trials.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(trials[i].number, i);
    EXPECT_EQ(trials[i].state, TrialState::Complete) << i;
    EXPECT_EQ(trials[i].intermediate.size(), 1u) << i;
    EXPECT_FALSE(trials[i].attrs.count("retries")) << i;
  }
  // The read-only commands take the URL too.
  std::string out;
  const std::string study = " --name w --study " + shell_quote(db.url());
  EXPECT_EQ(run_command(sgdlab_binary() + " trials" + study, &out), 0) << out;
  EXPECT_NE(out.find("30 trials"), std::string::npos) << out;
  EXPECT_EQ(run_command(sgdlab_binary() + " narrow --out " + (dir / "n.json") + study, &out), 0)
      << out;
  EXPECT_EQ(
      run_command(sgdlab_binary() + " export --optuna-journal " + (dir / "j.log") + study, &out), 0)
      << out;
  const std::string journal = read_bytes(dir / "j.log");
  // The study, its four settings as attributes, one operation per trial.
  EXPECT_EQ(std::count(journal.begin(), journal.end(), '\n'), 1 + 4 + 30) << journal;
}

// A worker killed mid-trial leaves it RUNNING with a heartbeat that stops: another
// worker leaves it alone while the heartbeat is younger than the grace period (the
// dead pid means nothing to it), and runs it again under its number once it is older.
TEST(SweepPostgres, AKilledWorkersTrialIsAskedAgainAfterTheGracePeriod) {
  SGDLAB_SKIP_WITHOUT_POSTGRES();
  TempDir dir;
  TempPostgresDb db;
  const std::string sweep =
      sgdlab_binary() + " sweep --model mlp --trials 2 --epochs 30 --device cpu --wave 1 " +
      "--pack-lanes 1 --space '{\"batch\":{\"type\":\"categorical\",\"choices\":[64]}}' --data " +
      real_data_dir() + " --name k --study " + shell_quote(db.url());
  const pid_t killed = spawn(sweep + " > " + (dir / "a") + " 2>&1");
  // Killed once trial 0 has reported an epoch: it is mid-trial.
  bool running = false;
  for (int i = 0; i < 1200 && !running; ++i) {
    int code = 0;
    // "> 0", not "= 1": an epoch of this MLP takes less than one psql round trip.
    running = psql(db.url(), "SELECT count(*) > 0 FROM sgdlab.trial_values", &code) == "t";
    if (!running) usleep(20000);
  }
  kill(killed, SIGKILL);
  EXPECT_EQ(exit_code(killed), 128 + SIGKILL);
  ASSERT_TRUE(running) << read_bytes(dir / "a");
  std::string out;
  ASSERT_EQ(run_command(sweep + " --heartbeat-grace 600", &out), 0) << out;
  EXPECT_NE(last_line(out).find("1 trial still RUNNING in another worker"), std::string::npos)
      << out;
  EXPECT_EQ(ran_here(out), 1) << out;
  usleep(1500000);
  ASSERT_EQ(run_command(sweep + " --heartbeat-grace 1", &out), 0) << out;
  EXPECT_NE(out.find("1 trial(s) left running by a stopped worker were run again"),
            std::string::npos)
      << out;
  EXPECT_EQ(last_line(out).rfind("done: 2 trials (1 run now", 0), 0u) << out;
  StudyStorage s(db.url(), StorageMode::ReadOnly);
  const auto trials = s.trials(s.find_study("k")->first);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[0].attrs.at("retries"), "1");
  EXPECT_EQ(trials[0].intermediate.size(), 30u);
  EXPECT_EQ(trials[1].state, TrialState::Complete);
  EXPECT_FALSE(trials[1].attrs.count("retries"));
}

}  // namespace
}  // namespace sgdlab::test
