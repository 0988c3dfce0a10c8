// A sweep killed in the middle of a wave (while asking its trials, or between its packs)
// and resumed asks every new trial with the history it would have had uninterrupted:
// the same trials finished, the same ones running (TPE's constant liar counts those).
// The kills are real: each interrupted run is this test binary run again as a child
// that kills itself with SIGKILL at a chosen point (issue #14, 4).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/storage.hpp"
#include "sgdlab/search/sweep.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

// Random draws, each trial's history written to `dir`/NUMBER as "number:state" lines;
// kills the process when asked trial `die_at` (so inside the ask's transaction).
class RecordingSampler final : public Sampler {
 public:
  RecordingSampler(std::string dir, int die_at) : dir_(std::move(dir)), die_at_(die_at) {}
  std::string name() const override { return "random"; }
  ParamValues sample(const SearchSpace& space, const std::vector<Trial>& history,
                     int number) override {
    if (number == die_at_) raise(SIGKILL);
    std::ofstream out(dir_ + "/" + std::to_string(number));
    for (const Trial& t : history) out << t.number << ":" << to_string(t.state) << "\n";
    return inner_->sample(space, history, number);
  }

 private:
  std::string dir_;
  int die_at_;
  std::unique_ptr<Sampler> inner_ = make_random_sampler(9);
};

// 12 one-epoch trials in waves of 4, one lane per pack. Kills the process at trial
// `die_at`'s ask or after `die_after_packs` packs (-1: never).
void run(const std::string& dir, const std::string& snapshots, int die_at, int die_after_packs) {
  const UspsData data = load_usps({dir + "/data"});
  auto backend = make_cpu_backend();
  DeviceData device_data(*backend, data);
  StudyStorage storage(dir + "/s.db");
  const SearchSpace space = SearchSpace::study_default();
  const int64_t id = storage.open_study({"waves", "mlp", "random", 0, 1, space.to_json()});
  fs::create_directories(snapshots);
  RecordingSampler sampler(snapshots, die_at);
  SweepOptions o;
  o.model = "mlp";
  o.trials = 12;
  o.epochs = 1;
  o.pack_lanes = 1;
  o.streams = 1;
  o.wave = 4;
  int packs = 0;
  run_sweep(
      storage, id, space, sampler, o, [] { return make_cpu_backend(); }, device_data,
      [&](const SweepProgress&) {
        if (++packs == die_after_packs) raise(SIGKILL);
      });
}

// The child: one interrupted run, as the environment says.
TEST(SweepWaves, DISABLED_InterruptedRun) {
  const char* dir = std::getenv("SGDLAB_WAVES_DIR");
  ASSERT_NE(dir, nullptr);
  run(dir, std::string(dir) + "/killed", std::atoi(std::getenv("SGDLAB_WAVES_DIE_AT")),
      std::atoi(std::getenv("SGDLAB_WAVES_DIE_AFTER")));
}

// Runs the child above, which kills itself.
void run_killed(const std::string& dir, int die_at, int die_after_packs) {
  std::string out;
  run_command("SGDLAB_WAVES_DIR=" + dir + " SGDLAB_WAVES_DIE_AT=" + std::to_string(die_at) +
                  " SGDLAB_WAVES_DIE_AFTER=" + std::to_string(die_after_packs) + " " +
                  fs::read_symlink("/proc/self/exe").string() +
                  " --gtest_also_run_disabled_tests --gtest_filter=SweepWaves.DISABLED_*",
              &out);
  EXPECT_EQ(out.find("[  PASSED  ]"), std::string::npos) << "the child was not killed:\n" << out;
}

TEST(SweepWaves, AResumedSweepAsksEachTrialWithItsUninterruptedHistory) {
  TempDir whole, killed;
  write_small_usps(whole / "data", 300, 60);
  write_small_usps(killed / "data", 300, 60);
  run(whole.path(), whole / "killed", -1, -1);
  // Killed asking trial 6 (4 and 5 asked, running), then between the packs of the wave
  // of trials 4 to 7 (4 and 5 finished, 6 and 7 running), then resumed to the end.
  run_killed(killed.path(), 6, -1);
  run_killed(killed.path(), -1, 2);
  run(killed.path(), killed / "killed", -1, -1);
  for (int n = 0; n < 12; ++n) {
    const std::string name = "/killed/" + std::to_string(n);
    ASSERT_TRUE(fs::exists(killed.path() + name)) << "trial " << n << " was never sampled";
    EXPECT_EQ(read_bytes(killed.path() + name), read_bytes(whole.path() + name))
        << "trial " << n << " saw another history";
  }
  StudyStorage s(killed / "s.db", StorageMode::ReadOnly);
  const auto trials = s.trials(s.find_study("waves")->first);
  ASSERT_EQ(trials.size(), 12u);
  for (const Trial& t : trials) EXPECT_EQ(t.state, TrialState::Complete) << t.number;
}

}  // namespace
}  // namespace sgdlab::test
