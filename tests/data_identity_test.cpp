// The identity of a data set (issue #22, 8): the same files reached by another path are
// the same data; other files, another format or layout, another split or scaling are
// named. `train --resume` compares it instead of the path as text.
#include <gtest/gtest.h>

#include <filesystem>

#include "sgdlab/engine/data_identity.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "tests/data_files.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

nlohmann::json identity_of(const std::string& path, uint64_t split_seed = 0,
                           bool standard = false) {
  DataOptions o;
  o.dir = path;
  o.split_seed = split_seed;
  o.standard = standard;
  return data_identity(load_dataset(o), o);
}

TEST(DataIdentity, ACopyATrailingSlashOrARelativePathIsTheSameData) {
  TempDir dir;
  write_small_usps(dir / "a", 300, 50);
  fs::copy(dir / "a", dir / "copy");
  const nlohmann::json a = identity_of(dir / "a");
  EXPECT_EQ(identity_of(dir / "a/"), a);
  EXPECT_EQ(identity_of(dir / "copy"), a);
  EXPECT_EQ(identity_of(fs::relative(dir / "a").string()), a);
  EXPECT_EQ(data_identity_difference(a, identity_of(dir / "copy"), "the study"), "");
  EXPECT_EQ(a["files"].size(), 2u) << a;
  EXPECT_EQ(a["files"]["zip.train.gz"], sha256_file(dir / "a/zip.train.gz")) << a;
}

TEST(DataIdentity, EachDifferenceIsNamed) {
  TempDir dir;
  write_small_usps(dir / "a", 300, 50);
  write_small_usps(dir / "b", 301, 50);  // one more training line
  const nlohmann::json a = identity_of(dir / "a");
  const std::string files = data_identity_difference(a, identity_of(dir / "b"), "the study");
  EXPECT_EQ(files.rfind("data file zip.train.gz: SHA-256 ", 0), 0u) << files;
  EXPECT_NE(
      files.find("(the study has " + a["files"]["zip.train.gz"].get<std::string>().substr(0, 12)),
      std::string::npos)
      << files;
  EXPECT_EQ(files.find("zip.test.gz"), std::string::npos) << "the test file is the same: " << files;
  EXPECT_EQ(data_identity_difference(a, identity_of(dir / "a", 0, true), "the study"),
            "--normalize standard (the study has none)");
  EXPECT_EQ(data_identity_difference(a, identity_of(dir / "a", 5), "the checkpoint"),
            "--split-seed 5 (the checkpoint has 0)");
}

TEST(DataIdentity, FormatsAndLayoutAreNamedAndIdxNamesItsFourFiles) {
  TempDir dir;
  const UspsData usps = usps_head(200, 0, 50);
  write_usps_as_idx(dir / "idx", usps, 200, 50);
  DataOptions o;
  o.dir = dir / "idx";
  const nlohmann::json idx = data_identity(load_dataset(o), o);
  EXPECT_EQ(idx["format"], "idx");
  EXPECT_EQ(idx["files"].size(), 4u) << idx;
  write_small_usps(dir / "usps", 300, 50);
  const std::string diff = data_identity_difference(identity_of(dir / "usps"), idx, "the study");
  EXPECT_EQ(diff.rfind("--format idx (the study has usps); data files ", 0), 0u) << diff;

  const std::vector<uint8_t> x(40 * 4 * 4, 7), y(40, 1);
  write_npz(dir / "d.npz", {{"x_train", npy_bytes("|u1", {40, 4, 4, 1}, raw_bytes(x))},
                            {"y_train", npy_bytes("|u1", {40}, raw_bytes(y))},
                            {"x_test", npy_bytes("|u1", {40, 4, 4, 1}, raw_bytes(x))},
                            {"y_test", npy_bytes("|u1", {40}, raw_bytes(y))}});
  o.dir = dir / "d.npz";
  o.nhwc = true;
  const nlohmann::json nhwc = data_identity(load_dataset(o), o);
  EXPECT_EQ(nhwc["files"].size(), 1u) << nhwc;
  nlohmann::json nchw = nhwc;
  nchw["layout"] = "nchw";
  EXPECT_EQ(data_identity_difference(nchw, nhwc, "the study"),
            "--layout nhwc (the study has nchw)");
}

// What a study or checkpoint holds that is not an identity is named, never taken as equal.
TEST(DataIdentity, AnUnreadableRecordIsADifference) {
  TempDir dir;
  write_small_usps(dir / "a", 300, 50);
  const nlohmann::json a = identity_of(dir / "a");
  EXPECT_NE(data_identity_difference(nlohmann::json::parse("[1]"), a, "the study"), "");
  EXPECT_NE(data_identity_difference(nlohmann::json(), a, "the study"), "");
}

// --resume compares the data's identity (issue #22, 8): the run goes on with the data
// reached by another path, and is refused with other files, naming the file.
TEST(DataIdentity, ResumeTakesTheSameDataByAnyPathAndRefusesOtherData) {
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  fs::copy(dir / "data", dir / "copy");
  write_small_usps(dir / "other", 301, 50);
  const std::string base = sgdlab_binary() + " train --device cpu --quiet --model mlp " +
                           "--checkpoint-every 1 --out " + (dir / "run");
  std::string out;
  ASSERT_EQ(run_command(base + " --epochs 1 --data " + (dir / "data"), &out), 0) << out;
  const std::string resume = sgdlab_binary() + " train --device cpu --quiet --model mlp " +
                             "--checkpoint-every 1 --resume " + (dir / "run");
  EXPECT_EQ(run_command(resume + " --epochs 3 --data " + (dir / "other"), &out), 2) << out;
  EXPECT_NE(out.find("other data than the checkpoint's: data file zip.train.gz: SHA-256"),
            std::string::npos)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  ASSERT_EQ(run_command(resume + " --epochs 2 --data " + (dir / "data/"), &out), 0) << out;
  ASSERT_EQ(run_command("cd " + dir.path() + " && " + resume + " --epochs 3 --data copy", &out), 0)
      << out;
  const auto config = nlohmann::json::parse(read_bytes(dir / "run/config.json"));
  EXPECT_EQ(config["data_identity"]["files"]["zip.train.gz"],
            sha256_file(dir / "data/zip.train.gz"));
}

}  // namespace
}  // namespace sgdlab::test
