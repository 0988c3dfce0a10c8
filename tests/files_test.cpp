// write_file_atomic: a failed write leaves nothing behind and says which path failed, in
// one line, as an InputError (issue #14, 6 and 7).
#include <gtest/gtest.h>

#include <filesystem>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

namespace fs = std::filesystem;

// The message of the InputError that write_file_atomic throws, or a failure.
std::string write_error(const std::string& path) {
  try {
    write_file_atomic(path, "content\n");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << path;
  return "";
}

// Names in `dir`, to see what a failed write left there.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(WriteFileAtomic, WritesAndReplaces) {
  TempDir dir;
  write_file_atomic(dir / "sub/a.txt", "one");
  write_file_atomic(dir / "sub/a.txt", "two");
  EXPECT_EQ(read_text_file(dir / "sub/a.txt"), "two");
  EXPECT_EQ(entries(dir / "sub"), std::vector<std::string>{"a.txt"});
}

// The rename onto a folder fails: the temporary file goes, the folder stays as it was.
TEST(WriteFileAtomic, ATargetThatIsAFolderLeavesNoTemporaryFile) {
  TempDir dir;
  fs::create_directories(dir / "out");
  write_bytes(dir / "out/kept.txt", "x");
  const std::string msg = write_error(dir / "out");
  EXPECT_EQ(msg.rfind(dir / "out: cannot write", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out"});
  EXPECT_EQ(entries(dir / "out"), std::vector<std::string>{"kept.txt"});
}

// A parent that is a file cannot become a folder: an InputError naming the path, not a
// raw std::filesystem error.
TEST(WriteFileAtomic, AParentThatIsAFileIsAnInputError) {
  TempDir dir;
  write_bytes(dir / "file", "x");
  const std::string msg = write_error(dir / "file/a.json");
  EXPECT_EQ(msg.rfind(dir / "file/a.json: cannot create its folder", 0), 0u) << msg;
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"file"});
}

}  // namespace
}  // namespace sgdlab::test
