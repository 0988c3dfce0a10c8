// report.md rendered from fixed report.json files and compared byte for byte with the
// committed renderings in tests/data/report/: a change to the report's text, wanted or
// not, shows up here as a diff to review rather than in a study run hours later.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "sgdlab/study/study.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

// $SGDLAB_TESTS_DIR for a test binary carried away from its checkout.
fs::path golden_dir() {
  const char* env = std::getenv("SGDLAB_TESTS_DIR");
  return fs::path(env && *env ? env : SGDLAB_TESTS_DIR) / "data" / "report";
}

// 1-based number of the first line where the texts differ, and both versions of it.
std::string first_difference(const std::string& expected, const std::string& actual) {
  std::istringstream e(expected), a(actual);
  std::string el, al;
  for (int line = 1;; ++line) {
    const bool has_e = bool(std::getline(e, el)), has_a = bool(std::getline(a, al));
    if (!has_e && !has_a) return "only in line endings";
    if (has_e != has_a || el != al)
      return "first at line " + std::to_string(line) +
             "\n  expected: " + (has_e ? el : "<end of file>") +
             "\n  actual:   " + (has_a ? al : "<end of file>");
  }
}

void expect_renders_as_committed(const std::string& json_name, const std::string& md_name) {
  const fs::path dir = golden_dir();
  ASSERT_TRUE(fs::exists(dir / json_name)) << dir / json_name;
  const auto report = nlohmann::json::parse(read_bytes((dir / json_name).string()));
  const std::string actual = render_report_markdown(report);
  const std::string expected =
      fs::exists(dir / md_name) ? read_bytes((dir / md_name).string()) : "";
  if (actual == expected) return;
  const fs::path written = fs::temp_directory_path() / ("sgdlab-golden-" + md_name);
  write_bytes(written.string(), actual);
  ADD_FAILURE() << md_name << " differs from the rendering of " << json_name << ", "
                << first_difference(expected, actual) << "\nThe rendering is in " << written
                << "; see the whole change with\n  diff -u " << dir / md_name << " " << written
                << "\nand copy it over the committed file only if the change is intended.";
}

// Every section with every optional part present, and nulls inside them: a failed
// search, missing intervals, undefined correlations, diverged and all-NaN lanes.
TEST(ReportGolden, FullStudyRendersAsCommitted) {
  expect_renders_as_committed("report.json", "report.md");
}

// A study cut short: one model missing, so no ensemble; no effect experiments, no
// device, no timings, and config fields left to their defaults.
TEST(ReportGolden, PartialStudyRendersAsCommitted) {
  expect_renders_as_committed("report_partial.json", "report_partial.md");
}

}  // namespace
}  // namespace sgdlab::test
