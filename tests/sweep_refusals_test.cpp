// Studies and sweeps that must be refused in one line, exit 2, with nothing written
// (issue #22): a study that cannot be written, a worker with other data or settings, a
// URL scheme sgdlab does not read, a negative seed, a study whose inputs are bad.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/storage.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

// `sgdlab ARGS`, in `folder` when given; expects exit 2 and one line that starts
// "sgdlab: " + `starts`.
void expect_refused(const std::string& args, const std::string& starts,
                    const std::string& folder = "") {
  std::string out;
  const std::string cd = folder.empty() ? "" : "cd " + folder + " && ";
  EXPECT_EQ(run_command(cd + sgdlab_binary() + " " + args, &out), 2) << args << "\n" << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
  EXPECT_EQ(out.rfind("sgdlab: " + starts, 0), 0u)
      << "expected 'sgdlab: " << starts << "...', got " << out;
}

// One trial of one epoch unless `more` gives --trials or --epochs (a flag given twice is
// refused).
std::string sweep(const std::string& data, const std::string& study, const std::string& more = "") {
  return "sweep --model mlp" + unless_given(more, "--trials", "1") +
         unless_given(more, "--epochs", "1") + " --device cpu --data " + data + " --study " +
         study + " --name t " + more;
}

void expect_runs(const std::string& args) {
  std::string out;
  ASSERT_EQ(run_command(sgdlab_binary() + " " + args, &out), 0) << args << "\n" << out;
}

size_t trials_in(const std::string& db) {
  StudyStorage s(db, StorageMode::ReadOnly);
  return s.trials(s.find_study("t")->first).size();
}

// chattr +i for as long as it lives: root, who runs the tests here, ignores chmod.
class Immutable {
 public:
  explicit Immutable(std::string path) : path_(std::move(path)) {
    chmod(path_.c_str(), fs::is_directory(path_) ? 0555 : 0444);
    if (geteuid() == 0) immutable_ = run_command("chattr +i " + path_, nullptr) == 0;
  }
  ~Immutable() {
    if (immutable_) run_command("chattr -i " + path_, nullptr);
    chmod(path_.c_str(), fs::is_directory(path_) ? 0755 : 0644);
  }
  bool enforced() const { return geteuid() != 0 || immutable_; }

 private:
  std::string path_;
  bool immutable_ = false;
};

// A read-only study file, or a study in a read-only folder (where SQLite cannot make its
// -wal and -shm files), is one line saying so, before any trial runs (issue #22, 5: it
// was the raw SQL text and exit 1).
TEST(SweepRefusals, AStudyThatCannotBeWrittenIsOneLine) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  fs::create_directories(dir / "ro");
  const std::string db = dir / "ro/s.db";
  expect_runs(sweep(dir / "data", db));
  {
    Immutable file(db);
    if (!file.enforced()) GTEST_SKIP() << "root without chattr: the file stays writable";
    expect_refused(sweep(dir / "data", db, "--trials 2"),
                   db + ": the study cannot be opened for writing (the file is read-only)");
  }
  {
    Immutable folder(dir / "ro");
    expect_refused(sweep(dir / "data", db, "--trials 2"),
                   db + ": the study cannot be opened for writing (its folder is read-only");
  }
  EXPECT_EQ(trials_in(db), 1u);
}

// A worker that joins a study with other data is refused, naming what differs; the
// same data by another path joins (issue #22, 8).
TEST(SweepRefusals, AWorkerWithOtherDataIsRefusedNamingWhatDiffers) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  write_small_usps(dir / "other", 301, 50);
  const std::string db = dir / "s.db";
  expect_runs(sweep(dir / "data", db));
  const std::string refusal = db + ": study 't' was run on other data: ";
  expect_refused(sweep(dir / "data", db, "--trials 2 --normalize standard"),
                 refusal + "--normalize standard (the study has none)");
  expect_refused(sweep(dir / "other", db, "--trials 2"),
                 refusal + "data file zip.train.gz: SHA-256 ");
  EXPECT_EQ(trials_in(db), 1u);
  expect_runs(sweep(dir / "data/", db, "--trials 2"));
  EXPECT_EQ(trials_in(db), 2u);
}

// A study written before the data was recorded takes the data of its next worker, and
// holds it from then on.
TEST(SweepRefusals, AnOlderStudyRecordsItsDataOnFirstUse) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  write_small_usps(dir / "other", 301, 50);
  const std::string db = dir / "s.db";
  expect_runs(sweep(dir / "data", db));
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(handle, "DELETE FROM study_attrs WHERE key = 'data'", nullptr, nullptr, nullptr),
      SQLITE_OK);
  EXPECT_EQ(sqlite3_changes(handle), 1);
  sqlite3_close(handle);
  expect_runs(sweep(dir / "data", db, "--trials 2"));
  StudyStorage s(db, StorageMode::ReadOnly);
  EXPECT_TRUE(s.study_attr(s.find_study("t")->first, "data").has_value());
  expect_refused(sweep(dir / "other", db, "--trials 3"), db + ": study 't' was run on other data");
}

// Other settings are refused naming each one that changed, not the whole stored study.
TEST(SweepRefusals, OtherSettingsAreNamedOneByOne) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  const std::string db = dir / "s.db";
  expect_runs(sweep(dir / "data", db));
  const std::string refusal = db + ": study 't' exists with other settings: ";
  expect_refused(sweep(dir / "data", db, "--epochs 2"),
                 refusal + "epochs 2 (the study has 1); resume it with the same settings");
  expect_refused(sweep(dir / "data", db, "--seed 5 --sampler tpe"),
                 refusal + "sampler tpe (the study has random); seed 5 (the study has 0);");
  std::string out;
  run_command(
      sgdlab_binary() + " " +
          sweep(dir / "data", db, R"(--space '{"batch":{"type":"categorical","choices":[16]}}')"),
      &out);
  EXPECT_NE(out.find(refusal + "space parameter batch {\"choices\":[16.0],\"type\":\"categorical\"}"
                               " (the study has {\"choices\":[16.0,32.0,64.0,128.0]"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("parameter lr"), std::string::npos) << "lr is the study's: " << out;
}

// sqlite:///PATH is understood (SQLAlchemy's form); other schemes are refused, naming
// the forms sgdlab reads and never the rest of the URL (a password); no folder named
// after the scheme is made (issue #22).
TEST(SweepRefusals, URLSchemesAreUnderstoodOrRefused) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  for (const std::string url : {"mysql://user:secret@host/db", "sqlite://host/s.db", "http://x"}) {
    std::string out;
    EXPECT_EQ(
        run_command("cd " + dir.path() + " && " + sgdlab_binary() + " " + sweep(dir / "data", url),
                    &out),
        2)
        << out;
    EXPECT_EQ(out.find("secret"), std::string::npos) << out;
    EXPECT_NE(out.find("sqlite:///PATH"), std::string::npos) << out;
    for (const char* cmd : {"trials", "narrow --out n.json", "export --optuna-journal j.log"}) {
      run_command("cd " + dir.path() + " && " + sgdlab_binary() + " " + cmd + " --study " + url +
                      " --name t",
                  &out);
      EXPECT_NE(out.find("sqlite:///PATH"), std::string::npos) << cmd << ": " << out;
    }
  }
  expect_refused(sweep(dir / "data", "MySQL://u@h/db"),
                 "--study: unsupported URL scheme 'MySQL://'", dir.path());
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path())) left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"data"});
  // sqlite:///runs/s.db is runs/s.db, relative to the working folder.
  std::string out;
  ASSERT_EQ(run_command("cd " + dir.path() + " && " + sgdlab_binary() + " " +
                            sweep(dir / "data", "sqlite:///runs/s.db"),
                        &out),
            0)
      << out;
  EXPECT_EQ(trials_in(dir / "runs/s.db"), 1u);
  ASSERT_EQ(
      run_command(
          sgdlab_binary() + " trials --study sqlite:///" + (dir / "runs/s.db") + " --name t", &out),
      0)
      << out;
}

TEST(SweepRefusals, StudyArgumentsResolve) {
  EXPECT_EQ(resolve_study_arg("runs/s.db"), "runs/s.db");
  EXPECT_EQ(resolve_study_arg("sqlite:///runs/s.db"), "runs/s.db");
  EXPECT_EQ(resolve_study_arg("sqlite:////tmp/s.db"), "/tmp/s.db");
  EXPECT_EQ(resolve_study_arg("SQLite:///s.db"), "s.db");
  EXPECT_EQ(resolve_study_arg("POSTGRESQL://u:p@h:5/db"), "postgresql://u:p@h:5/db");
  EXPECT_EQ(resolve_study_arg("Postgres://u@h/db"), "postgres://u@h/db");
  EXPECT_TRUE(is_postgres_url("PostgreSQL://u@h/db"));
  EXPECT_FALSE(is_postgres_url("runs/postgresql://x"));
  EXPECT_EQ(resolve_study_arg("./a://b"), "./a://b");  // a path: no scheme before the /
  EXPECT_THROW(resolve_study_arg("sqlite://"), InputError);
  EXPECT_THROW(resolve_study_arg("sqlite:///"), InputError);
  EXPECT_THROW(resolve_study_arg("redis://h"), InputError);
}

// Every command refuses a negative seed (issue #22, 9: study --seed -1 wrapped to
// 2^64 - 1 and ran), before anything is written.
TEST(SweepRefusals, NegativeSeedsAreRefusedByEveryCommand) {
  TempDir dir;
  expect_refused("study --seed -1 --preset quick --device cpu --no-figures --out " + (dir / "st"),
                 "--seed: expected one non-negative integer, got '-1'");
  expect_refused("study --seed 1.5 --out " + (dir / "st"), "--seed: ");
  EXPECT_FALSE(fs::exists(dir / "st"));
  expect_refused("tpe-benchmark --seeds -1", "--seeds: expected a number of runs >= 1");
  expect_refused("tpe-benchmark --trials -1", "--trials: expected a number >= 1");
}

// A study refused for one of its inputs leaves nothing behind (issue #22, 10: a missing
// --baseline left OUT/config.json and OUT/study.db).
TEST(SweepRefusals, ARefusedStudyLeavesNoFiles) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 120);
  expect_refused("study --baseline " + (dir / "none.json") +
                     " --preset quick --models mlp --device cpu --no-figures --data " +
                     (dir / "data") + " --out " + (dir / "R"),
                 "--baseline " + (dir / "none.json") + ": no such file");
  EXPECT_FALSE(fs::exists(dir / "R"));
  write_bytes(dir / "bad.json", "{");
  expect_refused("study --baseline " + (dir / "bad.json") +
                     " --preset quick --models mlp --device cpu --no-figures --data " +
                     (dir / "data") + " --out " + (dir / "R"),
                 "--baseline " + (dir / "bad.json") + ": not a study's report.json");
  EXPECT_FALSE(fs::exists(dir / "R"));
}

}  // namespace
}  // namespace sgdlab::test
