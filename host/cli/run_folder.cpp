#include "run_folder.hpp"

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sgdlab/core/error.hpp"

namespace sgdlab::cli {
namespace {
namespace fs = std::filesystem;

// Whether `dir/config.json` is the one `sgdlab train` writes.
bool holds_train_config(const std::string& dir) {
  try {
    const auto j = nlohmann::json::parse(read_text_file(dir + "/config.json"));
    return j.is_object() && j.value("command", "") == "train";
  } catch (const std::exception&) {
    return false;
  }
}

// The hidden folder beside `out` in which an --overwrite builds the new run.
std::string work_folder_beside(const std::string& out) {
  fs::path p = fs::path(out).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "runs/a/"
  return (p.parent_path() / ("." + p.filename().string() + ".new-" + std::to_string(::getpid())))
      .string();
}

void make_folder(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) SGDLAB_INPUT_ERROR("--out ", dir, ": cannot create the folder (", ec.message(), ")");
}

}  // namespace

OutKind out_kind(const std::string& out) {
  std::error_code ec;
  const auto status = fs::status(out, ec);
  if (!fs::exists(status)) return OutKind::Missing;
  if (!fs::is_directory(status)) return OutKind::File;
  // A folder with nothing but the .lock of a run killed before its first file is empty.
  bool empty = true;
  for (const auto& entry : fs::directory_iterator(out, ec))
    empty = empty && entry.path().filename() == ".lock";
  if (empty && !ec) return OutKind::Empty;
  return holds_train_config(out) ? OutKind::TrainRun : OutKind::OtherFolder;
}

RunFolder::RunFolder(const std::string& out, Mode mode) : out_(out), work_(out) {
  if (mode == Mode::Overwrite && out_kind(out) == OutKind::TrainRun) {
    old_lock_.emplace(out, "--out");  // no other process may write the old run meanwhile
    work_ = work_folder_beside(out);
    safe_ = false;
    made_ = true;
    std::error_code ec;
    fs::remove_all(work_, ec);  // a leftover of a process of this pid that died
  } else {
    made_ = mode != Mode::Resume && !fs::exists(out);
  }
  make_folder(work_);
  lock_.emplace(work_, mode == Mode::Resume ? "--resume" : "--out");
}

void RunFolder::safe() {
  if (safe_) return;
  exchange_folders(work_, out_);
  lock_->moved_to(out_);
  old_lock_->moved_to(work_);
  safe_ = true;
  std::error_code ec;
  fs::remove_all(work_, ec);  // the old run, now under the hidden name
  old_lock_.reset();
}

RunFolder::~RunFolder() {
  // Never throws: a destructor. The locks go after the folder (members, destroyed last).
  std::error_code ec;
  if (!safe_)
    fs::remove_all(work_, ec);  // a replacement that did not get far enough; the old run stays
  else if (made_ && !kept_ && !epochs_)
    fs::remove_all(out_, ec);
}

}  // namespace sgdlab::cli
