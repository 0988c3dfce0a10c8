#pragma once
// A study in Optuna's journal-storage format (optuna.storages.JournalStorage with
// JournalFileStorage): JSON lines, each an operation {"op_code", "worker_id", ...} that
// Optuna replays. sgdlab writes one CREATE_STUDY (direction maximize), the study's
// settings as study user attributes, and one CREATE_TRIAL per trial carrying its state,
// value, parameters with their distributions, per-epoch intermediate values, times and
// sgdlab's attributes, so that Optuna, its plots and optuna-dashboard read the sweep.
#include <string>
#include <vector>

#include "sgdlab/search/storage.hpp"
#include "sgdlab/search/trial.hpp"

namespace sgdlab {

// The journal of one study, trials in number order.
std::string optuna_journal(const StudyInfo& study, const std::vector<Trial>& trials);

}  // namespace sgdlab
