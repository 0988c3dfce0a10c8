// Sweeps end to end through the sgdlab binary: a killed sweep resumes without losing
// or repeating a trial and reproduces the uninterrupted values; diverging trials are
// stored as DIVERGED; the median pruner. In-process: trials that training refuses, a
// sibling worker that dies meanwhile.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/space.hpp"
#include "sgdlab/search/storage.hpp"
#include "sgdlab/search/sweep.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

int count_state(const std::vector<Trial>& trials, TrialState s) {
  return int(
      std::count_if(trials.begin(), trials.end(), [&](const Trial& t) { return t.state == s; }));
}

std::vector<Trial> load(const std::string& path, const std::string& name) {
  StudyStorage s(path, StorageMode::ReadOnly);
  auto found = s.find_study(name);
  return found ? s.trials(found->first) : std::vector<Trial>{};
}

// What a running sweep has stored so far: none while it is still making the file (which
// a read-only reader may see half made).
std::vector<Trial> poll(const std::string& path, const std::string& name) {
  try {
    return std::filesystem::exists(path) ? load(path, name) : std::vector<Trial>{};
  } catch (const Error&) {
    return {};
  }
}

// The first 300 training and 100 test images, in-process.
UspsData small_data() {
  return usps_head(300, 100, 100);
}

TEST(Sweep, KilledSweepResumesWithNoTrialLostOrRepeated) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const std::string db = dir / "study.db";
  const std::string cmd = sgdlab_binary() + " sweep --model mlp --trials 12 --epochs 40 " +
                          "--pack-lanes 1 --wave 2 --device cpu --seed 3 --data " + (dir / "data") +
                          " --study " + db + " --name resume";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > /dev/null 2>&1").c_str(), (char*)nullptr);
    _exit(127);
  }
  // Kill the sweep once a few trials are stored.
  std::vector<Trial> before;
  for (int i = 0; i < 3000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    before = poll(db, "resume");
    if (count_state(before, TrialState::Complete) >= 3) break;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  before = load(db, "resume");
  const int complete_before = count_state(before, TrialState::Complete);
  ASSERT_GE(complete_before, 3);
  ASSERT_LT(complete_before, 12) << "the sweep finished before it could be killed";

  std::string out;
  ASSERT_EQ(run_command(cmd, &out), 0) << out;
  const auto after = load(db, "resume");
  EXPECT_EQ(count_state(after, TrialState::Complete), 12) << out;
  std::map<int, const Trial*> by_number;
  for (const Trial& t : after) {
    EXPECT_TRUE(by_number.emplace(t.number, &t).second) << "trial number repeated";
    EXPECT_NE(t.state, TrialState::Running);
    EXPECT_NE(t.state, TrialState::Waiting);
  }
  // Everything completed before the kill is kept as it was.
  for (const Trial& t : before)
    if (t.state == TrialState::Complete) {
      ASSERT_TRUE(by_number.count(t.number));
      EXPECT_EQ(by_number[t.number]->state, TrialState::Complete);
      EXPECT_EQ(*by_number[t.number]->value, *t.value);
      EXPECT_EQ(by_number[t.number]->params, t.params);
    }
  // Each trial the kill interrupted was asked again under its own number, so with its
  // own seed: nothing failed, and the retried trials say so.
  EXPECT_EQ(count_state(after, TrialState::Failed), 0);
  EXPECT_EQ(by_number.size(), 12u);
  EXPECT_EQ(by_number.rbegin()->first, 11);
  int retried = 0;
  for (const Trial& t : after) retried += t.attrs.count("retries") > 0;
  EXPECT_GE(retried, 1);
  EXPECT_NE(out.find("left running by a stopped worker were run again"), std::string::npos) << out;
}

// A sweep killed mid-wave and resumed gives every trial the parameters and the value it
// has in an uninterrupted sweep: a retried trial keeps its number and so its seed, and
// the resumed sweep finishes the interrupted wave before TPE asks the next one, so that
// the sampler sees what it saw uninterrupted (issue #14, 4).
TEST(Sweep, AKilledAndRetriedSweepGivesTheUninterruptedValues) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 100);
  const auto cmd = [&](const std::string& db) {
    return sgdlab_binary() + " sweep --model mlp --sampler tpe --trials 14 --epochs 30 " +
           "--pack-lanes 1 --wave 2 --device cpu --seed 4 --data " + (dir / "data") + " --study " +
           db + " --name r";
  };
  std::string out;
  ASSERT_EQ(run_command(cmd(dir / "whole.db"), &out), 0) << out;
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd(dir / "killed.db") + " > /dev/null 2>&1").c_str(),
          (char*)nullptr);
    _exit(127);
  }
  // Killed past TPE's 10 startup trials, between the two packs of a wave.
  int complete = 0;
  for (int i = 0; i < 20000 && !(complete >= 11 && complete % 2 == 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    complete = count_state(poll(dir / "killed.db", "r"), TrialState::Complete);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  const int before = count_state(load(dir / "killed.db", "r"), TrialState::Complete);
  ASSERT_LT(before, 14) << "the sweep finished before it could be killed";
  ASSERT_EQ(run_command(cmd(dir / "killed.db"), &out), 0) << out;
  const auto whole = load(dir / "whole.db", "r"), resumed = load(dir / "killed.db", "r");
  ASSERT_EQ(whole.size(), 14u);
  ASSERT_EQ(resumed.size(), 14u) << out;
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(resumed[i].number, whole[i].number);
    EXPECT_EQ(resumed[i].state, TrialState::Complete) << "trial " << i;
    EXPECT_EQ(resumed[i].params, whole[i].params)
        << "trial " << i << " (killed after " << before << " complete)";
    EXPECT_EQ(resumed[i].value, whole[i].value) << "trial " << i;
    EXPECT_EQ(resumed[i].intermediate, whole[i].intermediate) << "trial " << i;
  }
}

TEST(Sweep, DivergingTrialsAreStoredAsDivergedAndTheSweepFinishes) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  write_bytes(dir / "space.json", R"({"lr": {"type": "log_uniform", "low": 1e20, "high": 1e30}})");
  std::string out;
  const int code =
      run_command(sgdlab_binary() + " sweep --model mlp --trials 3 --epochs 2 " +
                      "--device cpu --data " + (dir / "data") + " --space " + (dir / "space.json") +
                      " --study " + (dir / "s.db") + " --name div",
                  &out);
  ASSERT_EQ(code, 0) << out;
  const auto trials = load(dir / "s.db", "div");
  ASSERT_EQ(trials.size(), 3u);
  for (const Trial& t : trials) {
    EXPECT_EQ(t.state, TrialState::Diverged);
    EXPECT_EQ(t.attrs.at("diverged_epoch"), "1");
  }
  EXPECT_EQ(
      run_command(sgdlab_binary() + " trials --study " + (dir / "s.db") + " --name div", &out), 0);
  EXPECT_NE(out.find("DIVERGED"), std::string::npos) << out;
}

TEST(Sweep, MedianPrunerStopsPoorTrialsEarly) {
  TempDir dir;
  write_small_usps(dir / "data", 400, 80);
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() +
                            " sweep --model mlp --trials 14 --epochs 6 --prune --pack-lanes 1 " +
                            "--wave 1 --seed 5 --device cpu --data " + (dir / "data") +
                            " --study " + (dir / "s.db") + " --name pruned",
                        &out),
            0)
      << out;
  const auto trials = load(dir / "s.db", "pruned");
  ASSERT_EQ(trials.size(), 14u);
  int pruned = 0;
  for (const Trial& t : trials) {
    EXPECT_TRUE(t.finished_ok()) << to_string(t.state);
    if (t.state != TrialState::Pruned) continue;
    ++pruned;
    EXPECT_LT(t.intermediate.size(), 6u);  // stopped before the last epoch
    EXPECT_EQ(*t.value, t.intermediate.back());
  }
  EXPECT_GT(pruned, 0) << out;
}

TEST(Sweep, BadInputsAreOneLine) {
  TempDir dir;
  write_bytes(dir / "bad.json", R"({"momentum": {"type": "uniform", "low": 0.5, "high": 1.5}})");
  std::string out;
  EXPECT_NE(run_command(sgdlab_binary() + " sweep --space " + (dir / "bad.json") + " --study " +
                            (dir / "s.db") + " --name x",
                        &out),
            0);
  EXPECT_NE(out.find("momentum: value 1.5 is outside"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(
      run_command(sgdlab_binary() + " trials --study " + (dir / "none.db") + " --name x", &out), 0);
  EXPECT_NE(out.find("no such study file"), std::string::npos) << out;
  EXPECT_NE(
      run_command(sgdlab_binary() + " sweep --sampler grid --study " + (dir / "s.db") + " --name x",
                  &out),
      0);
  EXPECT_NE(out.find("--sampler: expected random or tpe"), std::string::npos) << out;
}

// Two packs at once on the CPU (--streams 2): every trial finishes once, and the
// scheduler makes one backend per concurrent pack for the whole sweep, not one per pack
// (on a GPU a backend's teardown synchronises the device mid-capture of another pack).
TEST(Sweep, TwoStreamsOnTheCpuKeepOneBackendPerStream) {
  TempDir dir;
  const UspsData data = small_data();
  auto main_backend = make_cpu_backend();
  DeviceData device_data(*main_backend, data);
  StudyStorage storage(dir / "s.db");
  const SearchSpace space = SearchSpace::from_json(
      nlohmann::json::parse(R"({"batch": {"type": "categorical", "choices": [32, 64]}})"), "test");
  const int64_t id = storage.open_study({"two-streams", "mlp", "random", 3, 1, space.to_json()});
  auto sampler = make_random_sampler(3);
  std::atomic<int> made{0};
  const BackendFactory counting = [&] {
    ++made;
    return make_cpu_backend();
  };
  SweepOptions o;
  o.model = "mlp";
  o.trials = 8;
  o.epochs = 1;
  o.pack_lanes = 1;
  o.streams = 2;
  o.wave = 8;
  const SweepResult r = run_sweep(storage, id, space, *sampler, o, counting, device_data);
  EXPECT_EQ(r.done, 8);
  EXPECT_EQ(made.load(), 2);
  const auto trials = storage.trials(id);
  ASSERT_EQ(trials.size(), 8u);
  std::set<int> numbers;
  for (const Trial& t : trials) {
    EXPECT_EQ(t.state, TrialState::Complete);
    numbers.insert(t.number);
  }
  EXPECT_EQ(numbers.size(), 8u);
}

// A sampler that draws momentum 1.5 (which training refuses) for the trials in `bad`.
class BadSampler final : public Sampler {
 public:
  explicit BadSampler(std::set<int> bad) : bad_(std::move(bad)) {}
  std::string name() const override { return "random"; }
  ParamValues sample(const SearchSpace& space, const std::vector<Trial>& h, int n) override {
    ParamValues p = inner_->sample(space, h, n);
    if (bad_.count(n) || bad_.count(-1)) p["momentum"] = 1.5;
    return p;
  }

 private:
  std::set<int> bad_;  // -1: every trial
  std::unique_ptr<Sampler> inner_ = make_random_sampler(1);
};

SweepOptions one_epoch(int trials) {
  SweepOptions o;
  o.model = "mlp";
  o.trials = trials;
  o.epochs = 1;
  o.pack_lanes = 1;
  o.streams = 1;
  o.wave = 1;
  return o;
}

// A trial whose parameters training refuses is stored FAILED with the reason instead of
// leaving it RUNNING for the next run to ask again forever (issue #14, 2).
TEST(Sweep, ATrialTrainingRefusesIsStoredFailedWithTheReasonAndNotAskedAgain) {
  TempDir dir;
  const UspsData data = small_data();
  auto backend = make_cpu_backend();
  DeviceData device_data(*backend, data);
  StudyStorage storage(dir / "s.db");
  const SearchSpace space = SearchSpace::study_default();
  const int64_t id = storage.open_study({"bad", "mlp", "random", 0, 1, space.to_json()});
  BadSampler sampler({0});
  const BackendFactory cpu = [] { return make_cpu_backend(); };
  const SweepResult r = run_sweep(storage, id, space, sampler, one_epoch(2), cpu, device_data);
  EXPECT_EQ(r.done, 2);
  auto trials = storage.trials(id);
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].state, TrialState::Failed);
  ASSERT_TRUE(trials[0].attrs.count("fail_reason"));
  EXPECT_NE(trials[0].attrs.at("fail_reason").find("momentum: value 1.5"), std::string::npos)
      << trials[0].attrs.at("fail_reason");
  // Resumed: nothing is asked again.
  run_sweep(storage, id, space, sampler, one_epoch(2), cpu, device_data);
  trials = storage.trials(id);
  EXPECT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].state, TrialState::Failed);
  // A sampler that only draws refused trials stops the sweep rather than loop forever.
  BadSampler always({-1});
  const int64_t id2 = storage.open_study({"always", "mlp", "random", 0, 1, space.to_json()});
  EXPECT_THROW(run_sweep(storage, id2, space, always, one_epoch(2), cpu, device_data), InputError);
}

// A sibling worker that dies while this sweep runs leaves its trial RUNNING: the sweep
// asks it again before it ends rather than stop with the study unfinished (issue #14, 8).
TEST(Sweep, ATrialOfASiblingThatDiedMeanwhileIsRunBeforeTheSweepEnds) {
  TempDir dir;
  const UspsData data = small_data();
  auto backend = make_cpu_backend();
  DeviceData device_data(*backend, data);
  StudyStorage storage(dir / "s.db");
  const SearchSpace space = SearchSpace::study_default();
  const int64_t id = storage.open_study({"sib", "mlp", "random", 0, 1, space.to_json()});
  int hold[2], asked[2];
  ASSERT_EQ(pipe(hold), 0);
  ASSERT_EQ(pipe(asked), 0);
  const pid_t sibling = fork();
  if (sibling == 0) {
    StudyStorage s(dir / "s.db");
    auto sampler = make_random_sampler(0);
    s.ask(id, [&](const std::vector<Trial>& h, int n) { return sampler->sample(space, h, n); });
    (void)!write(asked[1], "x", 1);
    char byte;
    while (read(hold[0], &byte, 1) > 0) {
    }
    _exit(0);
  }
  close(hold[0]);
  char byte;
  ASSERT_EQ(read(asked[0], &byte, 1), 1);
  auto sampler = make_random_sampler(0);
  const BackendFactory cpu = [] { return make_cpu_backend(); };
  bool killed = false;
  const SweepResult r = run_sweep(storage, id, space, *sampler, one_epoch(3), cpu, device_data,
                                  [&](const SweepProgress&) {
                                    if (killed) return;
                                    kill(sibling, SIGKILL);
                                    waitpid(sibling, nullptr, 0);
                                    killed = true;
                                  });
  close(hold[1]);
  EXPECT_TRUE(killed);
  EXPECT_EQ(r.done, 3);
  EXPECT_EQ(r.still_running, 0);
  for (const Trial& t : storage.trials(id)) EXPECT_EQ(t.state, TrialState::Complete) << t.number;
}

TEST(MedianPruner, StopsTrialsBelowTheMedianOfCompletedOnes) {
  std::vector<Trial> history;
  for (int i = 0; i < 5; ++i) {
    Trial t;
    t.number = i;
    t.state = TrialState::Complete;
    t.intermediate = {0.1 * i, 0.2 * i};
    history.push_back(t);
  }
  // At epoch 2 the completed values are 0, .2, .4, .6, .8: the median is 0.4.
  EXPECT_TRUE(median_prune(history, 2, 0.39, 5, 1));
  EXPECT_FALSE(median_prune(history, 2, 0.41, 5, 1));
  EXPECT_FALSE(median_prune(history, 1, 0.0, 5, 1));  // warm-up epoch
  EXPECT_FALSE(median_prune(history, 2, 0.0, 6, 1));  // too few completed trials
}

}  // namespace
}  // namespace sgdlab::test
