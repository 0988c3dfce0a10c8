// sweep, trials and narrow as a hostile user runs them (issue #14): a space that training
// would refuse, inline and malformed --space, databases that cannot be opened, are empty,
// read-only or of another schema, narrow onto a folder, several categorical parameters,
// a sibling worker still running. Each is one line, exit 2, and writes nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sgdlab/search/storage.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

// `sgdlab ARGS`; expects exit 2 with one line starting "sgdlab: " + `starts`.
void expect_user_error(const std::string& args, const std::string& starts) {
  std::string out;
  EXPECT_EQ(run_command(sgdlab_binary() + " " + args, &out), 2) << args << "\n" << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
  EXPECT_EQ(out.rfind("sgdlab: " + starts, 0), 0u)
      << "expected 'sgdlab: " << starts << "...', got " << out;
}

// One trial of one epoch of study "t" unless `more` gives --trials, --epochs or --name (a
// flag given twice is refused).
std::string sweep_args(const TempDir& dir, const std::string& study, const std::string& more) {
  return "sweep --model mlp" + unless_given(more, "--trials", "1") +
         unless_given(more, "--epochs", "1") + unless_given(more, "--name", "t") +
         " --device cpu --data " + (dir / "data") + " --study " + study + " " + more;
}

// The issue's reproductions: each space is refused when the sweep starts, naming the
// file and the parameter, and no study is written (so none can be wedged).
TEST(SweepCli, ASpaceTrainingWouldRefuseIsRefusedBeforeAnyTrial) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::vector<std::pair<std::string, std::string>> spaces = {
      {R"({"batch":{"type":"categorical","choices":[100000]}})", "batch: value 100000"},
      {R"({"lr":{"type":"log_uniform","low":1e-3,"high":1e300}})", "lr: value 1e+300"},
      {R"({"lr":{"type":"uniform","low":1e-60,"high":1e-50}})", "lr: value 1e-60"},
      {R"({"momentum":{"type":"uniform","low":0.5,"high":0.99999999999}})",
       "momentum: value 0.99999999999"}};
  for (size_t i = 0; i < spaces.size(); ++i) {
    const std::string file = dir / ("space" + std::to_string(i) + ".json");
    write_bytes(file, spaces[i].first);
    expect_user_error(sweep_args(dir, dir / "s.db", "--space " + file),
                      file + ": " + spaces[i].second + " is outside what training accepts");
    EXPECT_FALSE(fs::exists(dir / "s.db")) << spaces[i].first;
  }
}

TEST(SweepCli, InlineSpaceJsonIsTakenAndItsErrorsNameTheOption) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  expect_user_error(sweep_args(dir, dir / "s.db", R"(--space '{"lr":"fast"}')"),
                    "--space: lr: expected an object with a \"type\"");
  expect_user_error(sweep_args(dir, dir / "s.db", R"(--space '{"lr":{"type":"uniform"')"),
                    "--space: not valid JSON");
  expect_user_error(sweep_args(dir, dir / "s.db", R"(--space '{"lr":{"low":1e999}}')"),
                    "--space: not valid JSON");
  // Issue 22: a key the type does not read was ignored; --multivariate without TPE too.
  expect_user_error(
      sweep_args(dir, dir / "s.db",
                 R"(--space '{"lr":{"type":"log_uniform","low":0.001,"high":0.1,"step":2}}')"),
      "--space: lr: unknown key \"step\" (this type takes \"type\", \"low\", \"high\")");
  expect_user_error(sweep_args(dir, dir / "s.db", "--sampler random --multivariate"),
                    "--multivariate: applies to the tpe sampler only");
  EXPECT_FALSE(fs::exists(dir / "s.db"));
  std::string out;
  ASSERT_EQ(
      run_command(sgdlab_binary() + " " +
                      sweep_args(dir, dir / "s.db",
                                 R"(--space '{"batch":{"type":"categorical","choices":[8]}}')"),
                  &out),
      0)
      << out;
  EXPECT_NE(out.find("batch 8"), std::string::npos) << out;
}

TEST(SweepCli, AnUnopenableDatabaseIsOneLineNamingIt) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  write_bytes(dir / "file", "x");
  fs::create_directories(dir / "folder");
  expect_user_error(sweep_args(dir, dir / "file/x.db", ""), dir / "file/x.db: ");
  expect_user_error(sweep_args(dir, dir / "folder", ""), dir / "folder: ");
  expect_user_error("trials --study " + (dir / "folder") + " --name t", dir / "folder: ");
  expect_user_error("narrow --study " + (dir / "folder") + " --name t --out " + (dir / "n.json"),
                    dir / "folder: ");
  EXPECT_FALSE(fs::exists(dir / "n.json"));
}

// What `trials` may leave of a study file: the file alone, byte for byte.
void expect_untouched(const std::string& path, const std::string& bytes) {
  EXPECT_EQ(read_bytes(path), bytes) << path;
  EXPECT_FALSE(fs::exists(path + "-wal")) << path;
  EXPECT_FALSE(fs::exists(path + "-shm")) << path;
  EXPECT_FALSE(fs::exists(path + "-journal")) << path;
}

TEST(SweepCli, TrialsOfAnEmptyFileDoNotMakeItADatabase) {
  TempDir dir;
  write_bytes(dir / "empty.db", "");
  expect_user_error("trials --study " + (dir / "empty.db") + " --name t",
                    dir / "empty.db: not a sgdlab study database");
  expect_untouched(dir / "empty.db", "");
}

// Makes a file read-only for as long as it lives: chmod, and for root, whom chmod does
// not stop, the immutable attribute where the file system has one.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(std::string path) : path_(std::move(path)) {
    chmod(path_.c_str(), 0444);
    if (geteuid() == 0) immutable_ = run_command("chattr +i " + path_, nullptr) == 0;
  }
  ~ReadOnlyFile() {
    if (immutable_) run_command("chattr -i " + path_, nullptr);
    chmod(path_.c_str(), 0644);
  }
  bool enforced() const { return geteuid() != 0 || immutable_; }

 private:
  std::string path_;
  bool immutable_ = false;
};

// Runs `cmd` on the study `db` and checks that it succeeded and wrote nothing.
void expect_reads_only(const std::string& cmd, const std::string& db, const std::string& bytes) {
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " " + cmd + " --study " + db + " --name t", &out), 0)
      << cmd << "\n"
      << out;
  expect_untouched(db, bytes);
}

// trials and narrow read a study without writing: no -wal/-shm files appear beside it,
// when the file is read-only too, and a study in rollback-journal mode is not switched
// to WAL (issue #14, 5).
TEST(SweepCli, ReadOnlyCommandsCreateNothing) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::string db = dir / "s.db";
  std::string out;
  ASSERT_EQ(
      run_command(sgdlab_binary() + " " + sweep_args(dir, db, "--trials 3 --pack-lanes 1"), &out),
      0)
      << out;
  const std::vector<std::string> commands = {"trials", "trials --json",
                                             "narrow --out " + (dir / "n.json")};
  {
    const std::string bytes = read_bytes(db);
    expect_untouched(db, bytes);
    ReadOnlyFile read_only(db);
    if (!read_only.enforced()) std::cerr << "(running as root without chattr: not read-only)\n";
    for (const auto& cmd : commands) expect_reads_only(cmd, db, bytes);
    expect_user_error("trials --study " + db + " --name other", db + ": no study named 'other'");
    expect_untouched(db, bytes);
  }
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);
  const std::string bytes = read_bytes(db);
  for (const auto& cmd : commands) expect_reads_only(cmd, db, bytes);
}

// A SQLite file of another program is refused before anything is written to it.
TEST(SweepCli, ADatabaseOfAnotherSchemaIsRefusedBeforeAnyWrite) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::string path = dir / "other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE studies(study_id INTEGER PRIMARY KEY, study_name TEXT);"
                         "CREATE TABLE trials(trial_id INTEGER PRIMARY KEY, number INTEGER);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string bytes = read_bytes(path);
  expect_user_error(sweep_args(dir, path, ""), path + ": not a sgdlab study database");
  expect_untouched(path, bytes);
  expect_user_error("trials --study " + path + " --name t", path + ": not a sgdlab study database");
  expect_untouched(path, bytes);
}

TEST(SweepCli, NarrowOntoAFolderLeavesNothingBehind) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " " + sweep_args(dir, dir / "s.db", "--trials 2"), &out),
            0)
      << out;
  fs::create_directories(dir / "out");
  expect_user_error("narrow --study " + (dir / "s.db") + " --name t --out " + (dir / "out"),
                    dir / "out: cannot write");
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

// Every categorical parameter gets its mode; a choice of 0 has a KDE curve (issue #14, 8).
TEST(SweepCli, NarrowReportsTheModeOfEachCategoricalParameter) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::string space = R"('{"momentum":{"type":"categorical","choices":[0,0.9]},)"
                            R"("batch":{"type":"categorical","choices":[16,32]}}')";
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " " +
                            sweep_args(dir, dir / "s.db", "--trials 6 --space " + space),
                        &out),
            0)
      << out;
  ASSERT_EQ(run_command(sgdlab_binary() + " narrow --study " + (dir / "s.db") +
                            " --name t --top 0.5 --out " + (dir / "n.json"),
                        &out),
            0)
      << out;
  EXPECT_NE(out.find("momentum"), std::string::npos) << out;
  EXPECT_NE(out.find("batch"), std::string::npos) << out;
  const auto j = nlohmann::json::parse(read_bytes(dir / "n.json"));
  ASSERT_TRUE(j["mode"].contains("momentum")) << j["mode"];
  ASSERT_TRUE(j["mode"].contains("batch")) << j["mode"];
  EXPECT_EQ(j["space"]["momentum"]["choices"].size(), 1u);
  EXPECT_EQ(j["space"]["batch"]["choices"].size(), 1u);
  for (const char* curve : {"all", "top"})
    for (const auto& v : j["kde"]["momentum"][curve]) ASSERT_TRUE(v.is_number()) << curve;
  EXPECT_EQ(j["kde"]["momentum"]["axis"], "momentum");
  EXPECT_EQ(j["kde"]["batch"]["axis"], "log2(batch)");
}

// Integers are parsed as integers (issue #14, 3): seeds from 0 to 2^64 - 1 exactly, and a
// seed or count that is negative, fractional or out of range is refused with one line
// naming the flag, before any study is written (a negative count used to act as the
// default, and --seed -1 used to wrap to 2^64 - 1).
TEST(SweepCli, SeedsAndCountsAreIntegersAndOutOfRangeIsRefused) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::string db = dir / "s.db";
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"--seed", "-1"},           {"--seed", "18446744073709551616"},
      {"--seed", "1e3"},          {"--seed", "1.5"},
      {"--pack-lanes", "-1"},     {"--streams", "-2"},
      {"--wave", "-3"},           {"--pack-lanes", "2147483648"},
      {"--wave", "1.5"},          {"--streams", "+1"},
      {"--heartbeat-grace", "0"}, {"--heartbeat-grace", "-5"}};
  for (const auto& [flag, value] : refused) {
    expect_user_error(sweep_args(dir, db, flag + " " + value), flag + ": ");
    EXPECT_FALSE(fs::exists(db)) << flag << " " << value;
  }
  // 2^53 + 1 is not a double; 2^64 - 1 is the largest seed. Both are stored exactly.
  for (const std::string seed : {"9007199254740993", "18446744073709551615"}) {
    std::string out;
    ASSERT_EQ(run_command(sgdlab_binary() + " " +
                              sweep_args(dir, db, "--name s" + seed + " --seed " + seed),
                          &out),
              0)
        << out;
    StudyStorage s(db, StorageMode::ReadOnly);
    EXPECT_EQ(s.find_study("s" + seed)->second.seed, std::stoull(seed));
  }
  // 0 stays "the device's default".
  std::string out;
  EXPECT_EQ(run_command(sgdlab_binary() + " " +
                            sweep_args(dir, db, "--name z --pack-lanes 0 --streams 0 --wave 0"),
                        &out),
            0)
      << out;
  EXPECT_NE(out.find("packs of up to 4 lanes, 1 at once"), std::string::npos) << out;
}

// A trial that a live sibling worker runs is not done: the sweep says so in its last line.
TEST(SweepCli, ASweepSaysHowManyTrialsAreStillRunningElsewhere) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::string db = dir / "s.db";
  // Creates the study as the sweep below will, asks one trial, and holds it.
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " " + sweep_args(dir, db, "--trials 1"), &out), 0) << out;
  int hold[2];
  ASSERT_EQ(pipe(hold), 0);
  const pid_t sibling = fork();
  if (sibling == 0) {
    close(hold[1]);
    StudyStorage s(db);
    const auto found = s.find_study("t");
    s.ask(found->first, [](const std::vector<Trial>&, int) {
      return ParamValues{{"lr", 0.01}, {"batch", 32}, {"momentum", 0.9}, {"dropout", 0.2}};
    });
    char byte;
    while (read(hold[0], &byte, 1) > 0) {
    }
    _exit(0);
  }
  close(hold[0]);
  // Wait for the sibling's trial.
  for (int i = 0; i < 500; ++i) {
    StudyStorage s(db, StorageMode::ReadOnly);
    if (s.trials(s.find_study("t")->first).size() == 2) break;
    usleep(10000);
  }
  const int code = run_command(sgdlab_binary() + " " + sweep_args(dir, db, "--trials 3"), &out);
  close(hold[1]);
  waitpid(sibling, nullptr, 0);
  EXPECT_EQ(code, 0) << out;
  const std::string last = out.substr(out.rfind('\n', out.size() - 2) + 1);
  EXPECT_NE(last.find("1 trial still RUNNING in another worker"), std::string::npos) << out;
}

// Issue 22: SIGINT and SIGTERM left the worker's trials RUNNING. Now the packs stop at
// their next epoch, the trials go back to WAITING (their number and seed kept), and the
// worker says so in one line, exit 130 or 143; the same command then finishes the study.
TEST(SweepCli, SigintAndSigtermLeaveNoTrialRunning) {
  for (const int signal : {SIGINT, SIGTERM}) {
    TempDir dir;
    write_small_usps(dir / "data", 300, 50);
    const std::string db = dir / "s.db";
    const std::string args = sweep_args(dir, db, "--trials 4 --epochs 100000 --wave 4");
    const pid_t pid = fork();
    if (pid == 0) {
      const std::string cmd =
          "exec " + sgdlab_binary() + " " + args + " > " + (dir / "log") + " 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Until a trial has reported an epoch: the worker is training.
    auto reported = [&] {
      if (!fs::exists(db)) return false;
      try {
        StudyStorage s(db, StorageMode::ReadOnly);
        const auto found = s.find_study("t");
        if (!found) return false;
        for (const Trial& t : s.trials(found->first))
          if (!t.intermediate.empty()) return true;
      } catch (const std::exception&) {
      }
      return false;
    };
    int status = 0;
    bool ended = false;  // before the signal: the sweep failed; its log says why
    for (int i = 0; i < 12000 && !reported() && !ended; ++i) {
      ended = waitpid(pid, &status, WNOHANG) == pid;
      usleep(10000);
    }
    ASSERT_FALSE(ended) << read_bytes(dir / "log");
    kill(pid, signal);
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal, not stopped";
    EXPECT_EQ(WEXITSTATUS(status), 128 + signal);
    const std::string log = read_bytes(dir / "log");
    EXPECT_NE(log.find("trial(s) it was running are WAITING again"), std::string::npos) << log;
    StudyStorage s(db, StorageMode::ReadOnly);
    const auto trials = s.trials(s.find_study("t")->first);
    ASSERT_EQ(trials.size(), 4u);
    for (const Trial& t : trials) {
      EXPECT_EQ(t.state, TrialState::Waiting) << t.number;
      EXPECT_TRUE(t.intermediate.empty()) << t.number;
      EXPECT_EQ(t.attrs.count("retries"), 1u) << t.number;
    }
  }
}

}  // namespace
}  // namespace sgdlab::test
