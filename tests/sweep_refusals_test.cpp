// Studies and sweeps that must be refused in one line, exit 2, with nothing written
// (issue #22): a study that cannot be written.
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

std::string sweep(const std::string& data, const std::string& study, const std::string& more = "") {
  return "sweep --model mlp --trials 1 --epochs 1 --device cpu --data " + data + " --study " +
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

}  // namespace
}  // namespace sgdlab::test
