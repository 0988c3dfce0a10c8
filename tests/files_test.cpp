// write_file_atomic: a failed write leaves nothing behind and says which path failed, in
// one line, as an InputError (issue #14, 6 and 7); a symbolic link, a FIFO or a device
// node is written through, never replaced (issue #22, 6).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

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

// A link is followed: the file it names gets the content, in the file's own folder, and
// the link stays a link (it became a regular file).
TEST(WriteFileAtomic, ASymlinkIsWrittenThroughAndStays) {
  TempDir dir;
  fs::create_directories(dir / "real");
  write_bytes(dir / "real/a.json", "old");
  fs::create_symlink("real/a.json", dir / "link.json");
  write_file_atomic(dir / "link.json", "new");
  EXPECT_TRUE(fs::is_symlink(dir / "link.json"));
  EXPECT_EQ(read_bytes(dir / "real/a.json"), "new");
  EXPECT_EQ(entries(dir / "real"), std::vector<std::string>{"a.json"});
  // A dangling link names the file to create.
  fs::create_symlink("real/b.json", dir / "dangling.json");
  write_file_atomic(dir / "dangling.json", "b");
  EXPECT_TRUE(fs::is_symlink(dir / "dangling.json"));
  EXPECT_EQ(read_bytes(dir / "real/b.json"), "b");
}

// A FIFO takes the bytes where it is (its reader gets them) and stays a FIFO.
TEST(WriteFileAtomic, AFifoIsWrittenInPlace) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "pipe").c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = read_bytes(dir / "pipe"); });
  write_file_atomic(dir / "pipe", "through the pipe\n");
  reader.join();
  EXPECT_EQ(got, "through the pipe\n");
  EXPECT_TRUE(fs::is_fifo(dir / "pipe"));
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"pipe"});
}

// A character device, reached through a link so that no test ever names a /dev node as
// its target: /dev/null takes the bytes; /dev/full's ENOSPC is one line naming the path;
// both stay character devices and the links stay links.
TEST(WriteFileAtomic, ACharacterDeviceIsWrittenInPlaceNeverReplaced) {
  TempDir dir;
  fs::create_symlink("/dev/null", dir / "null");
  write_file_atomic(dir / "null", "gone\n");
  EXPECT_TRUE(fs::is_symlink(dir / "null"));
  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  fs::create_symlink("/dev/full", dir / "full");
  const std::string msg = write_error(dir / "full");
  EXPECT_EQ(msg, dir / "full: cannot write (No space left on device)");
  EXPECT_TRUE(fs::is_symlink(dir / "full"));
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"full", "null"}));
}

// A folder is written by one owner at a time: a second lock (even of this process) is one
// line naming the owner's pid; the lock file goes with its owner.
TEST(FolderLock, ASecondOwnerIsRefusedWithThePid) {
  TempDir dir;
  {
    FolderLock first(dir.path(), "--out");
    try {
      FolderLock second(dir.path(), "--out");
      ADD_FAILURE() << "a second lock was granted";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()), "--out " + dir.path() + ": is in use by pid " +
                                           std::to_string(getpid()) +
                                           " (one process at a time writes a run folder)");
    }
    EXPECT_TRUE(fs::exists(dir / ".lock"));
  }
  EXPECT_FALSE(fs::exists(dir / ".lock"));
  FolderLock again(dir.path(), "--out");  // free again
}

}  // namespace
}  // namespace sgdlab::test
