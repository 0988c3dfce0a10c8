// The USPS reader on good input and on each kind of bad input; the split; the download.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/data.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

TEST(UspsReader, ReadsTheRealFiles) {
  const Dataset train = read_usps_file(real_data_dir() + "/zip.train.gz");
  const Dataset test = read_usps_file(real_data_dir() + "/zip.test.gz");
  EXPECT_EQ(train.size(), 7291u);
  EXPECT_EQ(test.size(), 2007u);
  EXPECT_EQ(train.x.size(), 7291u * 256);
  EXPECT_EQ(train.y[0], 6);  // the paper's Figure 1
  int count0 = 0;
  for (int label : test.y) count0 += label == 0;
  EXPECT_EQ(count0, 359);  // zip.info.txt's table
  for (float v : train.x) ASSERT_TRUE(v >= -1 && v <= 1);
}

TEST(UspsReader, AcceptsIntegerLabelsAndBlankLines) {
  TempDir dir;
  write_gzip(dir / "ok.gz", "3 " + usps_line(0).substr(7) + "\n" + usps_line(9, -1));
  const Dataset d = read_usps_file(dir / "ok.gz");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.y[0], 3);
  EXPECT_EQ(d.y[1], 9);
  EXPECT_FLOAT_EQ(d.x[256], -1.0f);
}

struct BadCase {
  std::string name, content, expect;
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

class UspsBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(UspsBadInput, NamesFileLineAndWhatWasExpected) {
  TempDir dir;
  const BadCase& c = GetParam();
  const std::string path = dir / "bad.gz";
  write_gzip(path, usps_line(1) + c.content);
  const std::string msg = input_error([&] { read_usps_file(path); });
  EXPECT_NE(msg.find(path + ":2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

std::string replace_field(std::string line, int field, const std::string& value) {
  size_t start = 0;
  for (int i = 0; i < field; ++i) start = line.find(' ', start) + 1;
  size_t end = line.find_first_of(" \n", start);
  return line.replace(start, end - start, value);
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, UspsBadInput,
    ::testing::Values(
        BadCase{"TooFewFields", "1 0.5 0.5\n", "expected 257 fields"},
        BadCase{"TooManyFields", usps_line(2).substr(0, usps_line(2).size() - 1) + " 0.1\n",
                "found 258"},
        BadCase{"LabelTooLarge", replace_field(usps_line(1), 0, "10"),
                "expected an integer label 0-9"},
        BadCase{"LabelNegative", replace_field(usps_line(1), 0, "-1"), "integer label 0-9"},
        BadCase{"LabelNotInteger", replace_field(usps_line(1), 0, "3.5"),
                "integer label 0-9, found '3.5'"},
        BadCase{"LabelNotNumber", replace_field(usps_line(1), 0, "x"),
                "integer label 0-9, found 'x'"},
        BadCase{"PixelNotNumber", replace_field(usps_line(1), 17, "abc"),
                "pixel 17: expected a number"},
        BadCase{"PixelNaN", replace_field(usps_line(1), 3, "nan"), "pixel 3: expected a number"},
        BadCase{"PixelTooLarge", replace_field(usps_line(1), 256, "1.5"),
                "pixel 256: expected a value in [-1, 1]"},
        BadCase{"PixelTooSmall", replace_field(usps_line(1), 1, "-1.01"),
                "expected a value in [-1, 1]"}),
    [](const auto& info) { return info.param.name; });

TEST(UspsReader, MissingFile) {
  const std::string msg = input_error([] { read_usps_file("/nonexistent/zip.train.gz"); });
  EXPECT_NE(msg.find("/nonexistent/zip.train.gz: no such file"), std::string::npos) << msg;
}

TEST(UspsReader, TruncatedGzip) {
  TempDir dir;
  const std::string bytes = read_bytes(real_data_dir() + "/zip.test.gz");
  write_bytes(dir / "cut.gz", bytes.substr(0, bytes.size() / 2));
  const std::string msg = input_error([&] { read_usps_file(dir / "cut.gz"); });
  EXPECT_NE(msg.find("gzip"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir / "cut.gz"), std::string::npos) << msg;
}

TEST(UspsReader, CorruptGzip) {
  TempDir dir;
  std::string bytes = read_bytes(real_data_dir() + "/zip.test.gz");
  for (size_t i = 1000; i < 1400; ++i) bytes[i] = char(bytes[i] ^ 0x5A);
  write_bytes(dir / "corrupt.gz", bytes);
  const std::string msg = input_error([&] { read_usps_file(dir / "corrupt.gz"); });
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}

TEST(UspsReader, EmptyFile) {
  TempDir dir;
  write_gzip(dir / "empty.gz", "\n");
  const std::string msg = input_error([&] { read_usps_file(dir / "empty.gz"); });
  EXPECT_NE(msg.find("no samples"), std::string::npos) << msg;
}

TEST(Split, SeededTwentyPercentDisjointAndComplete) {
  Dataset all{1, {}, {}};
  for (int i = 0; i < 1000; ++i) {
    all.x.push_back(float(i));
    all.y.push_back(i % 10);
  }
  Dataset tr, va, tr2, va2, tr3, va3;
  split_validation(all, 0.2, 0, tr, va);
  split_validation(all, 0.2, 0, tr2, va2);
  split_validation(all, 0.2, 1, tr3, va3);
  EXPECT_EQ(va.size(), 200u);
  EXPECT_EQ(tr.size(), 800u);
  EXPECT_EQ(va.x, va2.x);
  EXPECT_NE(va.x, va3.x);
  std::vector<float> merged = tr.x;
  merged.insert(merged.end(), va.x.begin(), va.x.end());
  std::sort(merged.begin(), merged.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(merged[i], float(i));
}

TEST(Locate, DataFolderWithoutFilesIsAnError) {
  TempDir dir;
  const std::string msg = input_error([&] { locate_usps({dir.path()}); });
  EXPECT_NE(msg.find("--data " + dir.path() + ": expected zip.train.gz"), std::string::npos) << msg;
}

TEST(Checksum, KnownSums) {
  EXPECT_EQ(sha256_file(real_data_dir() + "/zip.test.gz"),
            "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f");
}

// Sets (or with nullptr unsets) an environment variable for one scope, then puts back
// what was there, so that the tests after this one see the environment they started with.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old) old_ = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_ ? setenv(name_.c_str(), old_->c_str(), 1) : unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

TEST(ScopedEnv, RestoresTheFormerValueOrAbsence) {
  setenv("SGDLAB_TEST_SCOPED", "before", 1);
  {
    ScopedEnv unset("SGDLAB_TEST_SCOPED", nullptr);
    EXPECT_EQ(std::getenv("SGDLAB_TEST_SCOPED"), nullptr);
    ScopedEnv set("SGDLAB_TEST_SCOPED_NEW", "x");
    EXPECT_STREQ(std::getenv("SGDLAB_TEST_SCOPED_NEW"), "x");
  }
  EXPECT_STREQ(std::getenv("SGDLAB_TEST_SCOPED"), "before");
  EXPECT_EQ(std::getenv("SGDLAB_TEST_SCOPED_NEW"), nullptr);
  unsetenv("SGDLAB_TEST_SCOPED");
}

// The download path end to end, with a local mirror read through libcurl's file://.
TEST(Download, VerifiesChecksumsAndKeepsNothingBad) {
  TempDir mirror, good_target, bad_target;
  std::filesystem::copy(real_data_dir() + "/zip.train.gz", mirror / "zip.train.gz");
  std::filesystem::copy(real_data_dir() + "/zip.test.gz", mirror / "zip.test.gz");
  const ScopedEnv use_mirror("SGDLAB_USPS_MIRROR", ("file://" + mirror.path()).c_str());
  const ScopedEnv no_data("SGDLAB_DATA", nullptr);
  DataOptions opts;
  opts.download_dir = good_target.path();
  EXPECT_EQ(locate_usps(opts), good_target.path());
  EXPECT_EQ(sha256_file(good_target / "zip.train.gz"),
            "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16");

  std::string bytes = read_bytes(mirror / "zip.test.gz");
  bytes[bytes.size() / 2] ^= 1;
  write_bytes(mirror / "zip.test.gz", bytes);
  opts.download_dir = bad_target.path();
  const std::string msg = input_error([&] { locate_usps(opts); });
  EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(bad_target / "zip.test.gz"));
  EXPECT_FALSE(std::filesystem::exists(bad_target / "zip.test.gz.part"));
}

}  // namespace
}  // namespace sgdlab::test
