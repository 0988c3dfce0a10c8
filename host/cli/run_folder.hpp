#pragma once
// The folder `sgdlab train` writes, from its first file to its last.
#include <optional>
#include <string>

#include "sgdlab/engine/files.hpp"

namespace sgdlab::cli {

// What `--out` (or `--resume`) names, for the checks and messages before anything is
// written.
enum class OutKind { Missing, Empty, File, TrainRun, OtherFolder };
OutKind out_kind(const std::string& out);

// Locked against a second writer for the run's whole life. A new folder in which no epoch
// finished is removed on a failure (it holds nothing to keep). With --overwrite, the new
// run is built in a hidden folder beside the old one (.NAME.new-PID) and takes the old
// run's place in one rename once it is safe (safe(): its first checkpoint, or its end),
// so that a new run that fails leaves the old one whole.
class RunFolder {
 public:
  enum class Mode { New, Resume, Overwrite };
  RunFolder(const std::string& out, Mode mode);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  // Where the run's files go now (the hidden folder until an overwrite is safe).
  const std::string& path() const { return safe_ ? out_ : work_; }
  // The folder the run is named by, --out.
  const std::string& out() const { return out_; }
  bool replacing() const { return !safe_; }
  void epoch_finished() { epochs_ = true; }
  // The run can be resumed or is complete: an overwrite's new run replaces the old one.
  void safe();
  // Finished: kept whatever happens next.
  void keep() { kept_ = true; }

 private:
  std::string out_, work_;
  std::optional<FolderLock> lock_, old_lock_;
  bool made_ = false, safe_ = true, epochs_ = false, kept_ = false;
};

}  // namespace sgdlab::cli
