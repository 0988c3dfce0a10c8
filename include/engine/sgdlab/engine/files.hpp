#pragma once
// Output files are written whole or not at all: to a temporary name, then renamed.
#include <string>

namespace sgdlab {

// A failure (folder not creatable, disk full, target a folder) removes the temporary file
// and is an InputError naming `path`. A symbolic link is followed: the file it points to
// is replaced, in that file's folder, and the link stays. A FIFO or a character device
// (/dev/null, a terminal) is written in place; a folder, a socket or a block device is
// refused. Nothing but a regular file is ever renamed over.
void write_file_atomic(const std::string& path, const std::string& content);
std::string read_text_file(const std::string& path);
// Makes a folder and its parents (nothing when it exists); a failure (a file in the way,
// no permission) is an InputError "<what> <path>: cannot create the folder (<why>)".
void make_folders(const std::string& path, const std::string& what);

}  // namespace sgdlab

namespace sgdlab {

// An advisory lock (flock) on a run folder, held from construction until the object goes,
// so that two processes never write one folder. The lock lives in FOLDER/.lock, which
// holds the owner's process id and goes with the lock. A folder locked by another
// process is an InputError "<what> <folder>: is in use by pid N".
class FolderLock {
 public:
  FolderLock(const std::string& folder, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  // The folder was renamed (the lock goes with it): the name to clean up at the end.
  void moved_to(const std::string& folder);

 private:
  std::string path_;
  int fd_ = -1;
};

// Swaps two folders' names in one step (renameat2 RENAME_EXCHANGE), so that `to` names a
// whole run at every instant; where the file system cannot, two renames. InputError on
// failure, nothing swapped.
void exchange_folders(const std::string& from, const std::string& to);

}  // namespace sgdlab
