// sgdlab export: a study in Optuna's journal format, for Optuna's tools
// (optuna-dashboard, optuna.visualization) to read.
#include <filesystem>
#include <iostream>

#include "common.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/search/optuna_journal.hpp"
#include "sgdlab/search/storage.hpp"

namespace sgdlab::cli {
namespace {

struct ExportArgs {
  std::string study, name, journal;
};

void run_export(const ExportArgs& a) {
  const std::string study = resolve_study_arg(a.study);
  if (!is_postgres_url(study) && !std::filesystem::is_regular_file(study))
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

}  // namespace

void register_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd =
      app.add_subcommand("export", "write a study in Optuna's journal format (optuna-dashboard)");
  cmd->add_option("--study", a->study,
                  "the study: a SQLite file (or sqlite:///PATH), or "
                  "postgresql://USER[:PASS]@HOST[:PORT]/DB")
      ->required();
  cmd->add_option("--name", a->name, "the study's name")->required();
  cmd->add_option("--optuna-journal", a->journal, "the journal file to write")->required();
  cmd->callback([a] { run_export(*a); });
}

}  // namespace sgdlab::cli
