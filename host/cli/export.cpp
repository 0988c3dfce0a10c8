// sgdlab export: a study in Optuna's journal format, for Optuna's tools
// (optuna-dashboard, optuna.visualization); or trained networks as ONNX models
// (docs/onnx.md), for ONNX Runtime, OpenCV and the rest.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/onnx/onnx_model.hpp"
#include "sgdlab/search/optuna_journal.hpp"
#include "sgdlab/search/storage.hpp"

namespace sgdlab::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string study, name, journal;  // a study, to Optuna's journal
  std::string checkpoint, onnx;      // trained networks, to ONNX
  std::string opset = std::to_string(kOnnxDefaultOpset);
};

void run_journal_export(const ExportArgs& a) {
  const std::string study = resolve_study_arg(a.study);
  if (!is_postgres_url(study) && !fs::is_regular_file(study))
    SGDLAB_INPUT_ERROR("--study ", study, ": no such study database");
  // Exporting reads: the study is opened read-only and nothing is created in it.
  StudyStorage storage(a.study, StorageMode::ReadOnly);
  const auto found = storage.find_study(a.name);
  if (!found) SGDLAB_INPUT_ERROR("--name ", a.name, ": no such study in ", storage.path());
  const auto trials = storage.trials(found->first);
  write_file_atomic(a.journal, optuna_journal(found->second, trials));
  std::cout << "wrote " << trials.size() << " trials of '" << a.name << "' to " << a.journal
            << " (load it with optuna.storages.JournalStorage(JournalFileStorage(\"" << a.journal
            << "\")))\n";
}

// One network to export: its checkpoint, where its model goes, and the model's bytes.
struct OnnxJob {
  std::string checkpoint, out, bytes;
  std::string model;
  double seconds = 0;
};

// The model checkpoints of a run or study folder: FOLDER/models/*.safetensors (train
// --save, a study's final models), or the folder's own *.safetensors.
std::vector<std::string> folder_checkpoints(const std::string& folder) {
  const fs::path models = fs::is_directory(fs::path(folder) / "models")
                              ? fs::path(folder) / "models"
                              : fs::path(folder);
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(models, ec))
    if (e.path().extension() == ".safetensors" && e.is_regular_file())
      found.push_back(e.path().string());
  if (ec)
    SGDLAB_INPUT_ERROR("--checkpoint ", folder, ": cannot list ", models.string(), " (",
                       ec.message(), ")");
  if (found.empty())
    SGDLAB_INPUT_ERROR("--checkpoint ", folder, ": no model checkpoints in ", models.string(),
                       " (expected *.safetensors, which train --save writes)");
  std::sort(found.begin(), found.end());
  return found;
}

// What to export where: a checkpoint to the file --onnx (or into the folder --onnx names),
// a folder's checkpoints into the folder --onnx, each as <name>.onnx.
std::vector<OnnxJob> onnx_jobs(const ExportArgs& a) {
  if (!fs::exists(a.checkpoint))
    SGDLAB_INPUT_ERROR("--checkpoint ", a.checkpoint, ": no such file or folder");
  auto named_in = [](const std::string& folder, const std::string& checkpoint) {
    return (fs::path(folder) / fs::path(checkpoint).stem()).string() + ".onnx";
  };
  std::vector<OnnxJob> jobs;
  if (!fs::is_directory(a.checkpoint)) {
    const bool into_folder = fs::is_directory(a.onnx);
    jobs.push_back({a.checkpoint, into_folder ? named_in(a.onnx, a.checkpoint) : a.onnx});
    return jobs;
  }
  if (fs::exists(a.onnx) && !fs::is_directory(a.onnx))
    SGDLAB_INPUT_ERROR("--onnx ", a.onnx,
                       ": is a file; a folder of checkpoints exports to a folder");
  for (const std::string& c : folder_checkpoints(a.checkpoint))
    jobs.push_back({c, named_in(a.onnx, c)});
  return jobs;
}

// An output that names its own checkpoint would replace the trained network.
void refuse_overwriting_checkpoints(const std::vector<OnnxJob>& jobs) {
  std::error_code ec;
  for (const OnnxJob& j : jobs)
    if (fs::equivalent(j.out, j.checkpoint, ec))
      SGDLAB_INPUT_ERROR("--onnx ", j.out, ": is the checkpoint itself; name another file");
}

// Writes every model, or none: a failure removes what this call wrote and the folder it
// made.
void write_all(const std::vector<OnnxJob>& jobs, const std::string& folder) {
  const bool made = !folder.empty() && !fs::exists(folder);
  if (!folder.empty()) make_folders(folder, "--onnx");
  std::vector<std::string> written;
  try {
    for (const OnnxJob& j : jobs) {
      write_file_atomic(j.out, j.bytes);
      written.push_back(j.out);
    }
  } catch (...) {
    std::error_code ec;
    for (const std::string& w : written) fs::remove(w, ec);
    if (made) fs::remove(folder, ec);
    throw;
  }
}

void run_onnx_export(const ExportArgs& a) {
  const uint64_t opset = parse_uint("--opset", a.opset);
  if (opset > 1000) SGDLAB_INPUT_ERROR("--opset ", opset, ": expected an ONNX opset such as 17");
  std::vector<OnnxJob> jobs = onnx_jobs(a);
  refuse_overwriting_checkpoints(jobs);
  // Every model is made and checked before the first is written: a bad checkpoint or an
  // opset that cannot express the network leaves nothing behind.
  for (OnnxJob& j : jobs) {
    const auto start = std::chrono::steady_clock::now();
    const ModelCheckpoint c = load_model_checkpoint(j.checkpoint);
    j.bytes = onnx_model_bytes(c, int(opset), j.checkpoint);
    j.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    j.model = c.model.name;
  }
  write_all(jobs, fs::is_directory(a.checkpoint) ? a.onnx : "");
  for (const OnnxJob& j : jobs)
    std::cout << "wrote " << j.out << ": " << j.model << ", opset " << opset << ", "
              << j.bytes.size() << " bytes, made and checked in " << std::fixed
              << std::setprecision(1) << 1000 * j.seconds << " ms\n";
}

}  // namespace

void register_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "write a study in Optuna's journal format (optuna-dashboard), or trained networks as "
      "ONNX models");
  CLI::Option* study =
      cmd->add_option("--study", a->study,
                      "with --optuna-journal: the study, a SQLite file (or "
                      "sqlite:///PATH), or postgresql://USER[:PASS]@HOST[:PORT]/DB");
  CLI::Option* name = cmd->add_option("--name", a->name, "with --optuna-journal: the study's name");
  CLI::Option* journal =
      cmd->add_option("--optuna-journal", a->journal, "the journal file to write");
  CLI::Option* checkpoint =
      cmd->add_option("--checkpoint", a->checkpoint,
                      "with --onnx: a model checkpoint (.safetensors), or a run folder to export "
                      "each of its models/*.safetensors");
  CLI::Option* onnx = cmd->add_option("--onnx", a->onnx,
                                      "the ONNX file to write (docs/onnx.md); a folder for a run "
                                      "folder's models, each as <name>.onnx");
  CLI::Option* opset =
      cmd->add_option("--opset", a->opset,
                      "with --onnx: the ONNX opset, " + std::to_string(kOnnxMinOpset) + " to " +
                          std::to_string(onnx_max_opset()))
          ->default_val(std::to_string(kOnnxDefaultOpset));
  // Two modes: CLI11 refuses a flag of the other mode or a missing one (exit 2, one line).
  journal->excludes(onnx)->needs(study)->needs(name);
  onnx->needs(checkpoint);
  for (CLI::Option* o : {study, name}) o->needs(journal);
  for (CLI::Option* o : {checkpoint, opset}) o->needs(onnx);
  cmd->callback([a, journal, onnx] {
    if (journal->count()) return run_journal_export(*a);
    if (onnx->count()) return run_onnx_export(*a);
    SGDLAB_INPUT_ERROR("export: expected --optuna-journal (a study) or --onnx (trained networks)");
  });
}

}  // namespace sgdlab::cli
