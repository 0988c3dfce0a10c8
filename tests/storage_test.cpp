// SQLite study storage: round trip, resume checks, dead workers, concurrent processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/storage.hpp"
#include "tests/storage_util.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(Storage, RoundTripThroughTheFile) {
  TempDir dir;
  const std::string path = dir / "study.db";
  ParamValues p0, p1;
  {
    StudyStorage s(path);
    bool created = false;
    const int64_t id = s.open_study(info("a"), &created);
    EXPECT_TRUE(created);
    const Trial t0 = s.ask(id, random_fn(1));
    const Trial t1 = s.ask(id, random_fn(1));
    p0 = t0.params;
    p1 = t1.params;
    EXPECT_EQ(t0.number, 0);
    EXPECT_EQ(t1.number, 1);
    s.report({{t0.id, 1, 0.5}, {t0.id, 2, 0.75}, {t1.id, 1, 0.25}});
    s.finish(t0.id, TrialState::Complete, 0.75, {{"test_acc", "0.7"}});
    s.finish(t1.id, TrialState::Diverged, 0.1, {});
    s.set_study_attr(id, "phase", "coarse");
  }
  StudyStorage s(path);
  bool created = true;
  const int64_t id = s.open_study(info("a"), &created);
  EXPECT_FALSE(created);
  const auto trials = s.trials(id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[0].params, p0);
  EXPECT_EQ(*trials[0].value, 0.75);
  EXPECT_EQ(trials[0].intermediate, (std::vector<double>{0.5, 0.75}));
  EXPECT_EQ(trials[0].attrs.at("test_acc"), "0.7");
  EXPECT_FALSE(trials[0].started.empty());
  EXPECT_FALSE(trials[0].finished.empty());
  EXPECT_EQ(trials[1].state, TrialState::Diverged);
  EXPECT_EQ(trials[1].params, p1);
  EXPECT_EQ(*s.study_attr(id, "phase"), "coarse");
  EXPECT_EQ(s.study_names(), std::vector<std::string>{"a"});
}

TEST(Storage, ResumingWithOtherSettingsIsAnError) {
  TempDir dir;
  StudyStorage s(dir / "study.db");
  s.open_study(info("a"));
  StudyInfo other = info("a");
  other.model = "mlp";
  EXPECT_THROW(s.open_study(other), InputError);
  other = info("a");
  other.space["lr"]["low"] = 1e-3;
  EXPECT_THROW(s.open_study(other), InputError);
}

TEST(Storage, NotADatabaseIsAnInputError) {
  TempDir dir;
  write_bytes(dir / "junk.db", std::string(4096, 'x'));
  EXPECT_THROW(StudyStorage(dir / "junk.db"), InputError);
}

// A trial of a worker that died is asked again under its own number (and so with its
// own seed), its partial per-epoch values dropped: the retry reproduces the trial
// (issue #14, 4).
TEST(Storage, TrialsOfADeadWorkerAreAskedAgainUnderTheirOwnNumber) {
  TempDir dir;
  const std::string path = dir / "study.db";
  {
    StudyStorage s(path);
    s.open_study(info("a"));
  }
  const pid_t child = fork();
  if (child == 0) {
    // A worker that asks two trials, finishes one, reports an epoch of the other and dies.
    StudyStorage s(path);
    const int64_t id = s.open_study(info("a"));
    const Trial done = s.ask(id, random_fn(2));
    const Trial orphan = s.ask(id, random_fn(2));
    s.finish(done.id, TrialState::Complete, 0.5, {});
    s.report({{orphan.id, 1, 0.25}});
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  StudyStorage s(path);
  const int64_t id = s.open_study(info("a"));
  auto trials = s.trials(id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[1].state, TrialState::Running);
  const ParamValues orphan = trials[1].params;
  EXPECT_EQ(s.recover_stale(id), 1);
  EXPECT_EQ(s.recover_stale(id), 0);
  trials = s.trials(id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[1].state, TrialState::Waiting);
  EXPECT_EQ(trials[1].number, 1);
  EXPECT_TRUE(trials[1].intermediate.empty());
  EXPECT_EQ(trials[1].attrs.at("retries"), "1");
  // The next ask takes the waiting trial: same number, same parameters.
  const Trial again = s.ask(id, random_fn(3));
  EXPECT_EQ(again.number, 1);
  EXPECT_EQ(again.params, orphan);
  // A trial of this (live) process is not stale.
  EXPECT_EQ(s.recover_stale(id), 0);
  // A FAILED trial stays failed: recovery only takes RUNNING trials of dead workers.
  s.finish(again.id, TrialState::Failed, std::nullopt, {{"fail_reason", "test"}});
  EXPECT_EQ(s.recover_stale(id), 0);
  EXPECT_EQ(s.ask(id, random_fn(3)).number, 2);
}

TEST(Storage, TwoProcessesAskTenEachAndGetTwentyDistinctTrials) {
  TempDir dir;
  const std::string path = dir / "study.db";
  {
    StudyStorage s(path);
    s.open_study(info("shared"));
  }
  in_processes(2, [&](int c) {
    StudyStorage s(path);
    const int64_t id = s.open_study(info("shared"));
    for (int i = 0; i < 10; ++i) {
      const Trial t = s.ask(id, random_fn(10 + c));
      s.finish(t.id, TrialState::Complete, 0.5, {{"worker", std::to_string(c)}});
    }
  });
  StudyStorage s(path);
  const auto trials = s.trials(s.open_study(info("shared")));
  ASSERT_EQ(trials.size(), 20u);
  std::set<int> numbers;
  std::map<std::string, int> per_worker;
  for (const Trial& t : trials) {
    numbers.insert(t.number);
    EXPECT_EQ(t.state, TrialState::Complete);
    ++per_worker[t.attrs.at("worker")];
  }
  EXPECT_EQ(numbers.size(), 20u);
  EXPECT_EQ(*numbers.rbegin(), 19);
  EXPECT_EQ(per_worker["0"], 10);
  EXPECT_EQ(per_worker["1"], 10);
}

// Exit codes of a child that opens a study.
enum OpenResult { kOpened = 0, kOtherSettings = 2, kOtherError = 3 };

// Forks `n` children that each wait at a common start, then open study `name`: the even
// ones with `a`, the odd ones with `b`. Returns each child's OpenResult.
std::vector<int> open_concurrently(const std::string& path, int n, const StudyInfo& a,
                                   const StudyInfo& b) {
  int start[2];
  if (pipe(start) != 0) ADD_FAILURE() << "pipe";
  std::vector<pid_t> children;
  for (int c = 0; c < n; ++c) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(start[1]);
      int code = kOtherError;
      try {
        StudyStorage s(path);
        char byte;
        // Blocks until the parent closes the write end, so that the children open at once.
        while (read(start[0], &byte, 1) > 0) {
        }
        s.open_study(c % 2 == 0 ? a : b);
        code = kOpened;
      } catch (const InputError& e) {
        const std::string msg = e.what();
        if (msg.find("exists with") != std::string::npos &&
            msg.find("resume it with the same settings") != std::string::npos)
          code = kOtherSettings;
      } catch (...) {
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  close(start[0]);
  usleep(200000);  // let the children connect and block on the pipe
  close(start[1]);
  std::vector<int> codes;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  return codes;
}

// Processes that create the same study at once with different settings: one settings
// wins, every process with the other settings is refused as a later sequential open
// would be, and there is one study of that name.
TEST(Storage, ConcurrentOpensWithOtherSettingsAreRefused) {
  TempDir dir;
  const std::string path = dir / "study.db";
  { StudyStorage s(path); }
  for (int round = 0; round < 4; ++round) {
    const std::string name = "race" + std::to_string(round);
    StudyInfo a = info(name), b = info(name);
    b.space["lr"]["low"] = 1e-3;
    const int n = 8;
    const std::vector<int> codes = open_concurrently(path, n, a, b);
    StudyStorage s(path);
    const auto stored = s.find_study(name);
    ASSERT_TRUE(stored.has_value());
    const bool a_won = stored->second.space == a.space;
    EXPECT_TRUE(a_won || stored->second.space == b.space);
    for (int c = 0; c < n; ++c) {
      const bool matches = (c % 2 == 0) == a_won;
      EXPECT_EQ(codes[c], matches ? kOpened : kOtherSettings)
          << "round " << round << ", child " << c << " with space " << (c % 2 == 0 ? "a" : "b")
          << ", stored " << (a_won ? "a" : "b");
    }
    const auto names = s.study_names();
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 1);
    EXPECT_EQ(names.size(), size_t(round + 1));
  }
}

}  // namespace
}  // namespace sgdlab::test
