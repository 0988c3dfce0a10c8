#pragma once
// Study storage in one SQLite file (WAL), shared safely by several processes: studies,
// trials (number, state, parameters, value, per-epoch values, timestamps) and
// attributes. A study is resumed by name.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sgdlab/search/trial.hpp"

struct sqlite3;

namespace sgdlab {

struct StudyInfo {
  std::string name;
  std::string model;
  std::string sampler;
  uint64_t seed = 0;
  int epochs = 0;
  nlohmann::json space;  // SearchSpace::to_json()
};

// ReadWrite creates the file and its schema where needed; ReadOnly (trials, narrow)
// creates nothing, not even -wal/-shm files, and refuses a file with no study tables.
enum class StorageMode { ReadWrite, ReadOnly };

class StudyStorage {
 public:
  // A file that cannot be opened, or is not a study database of this version, is an
  // InputError naming it, raised before anything is written to the file.
  explicit StudyStorage(const std::string& path, StorageMode mode = StorageMode::ReadWrite);
  ~StudyStorage();
  StudyStorage(const StudyStorage&) = delete;
  StudyStorage& operator=(const StudyStorage&) = delete;

  const std::string& path() const { return path_; }

  // Creates the study or loads the stored one of that name; a stored study keeps its
  // settings, and a different model, sampler or space is an InputError.
  int64_t open_study(const StudyInfo& info, bool* created = nullptr);
  std::optional<std::pair<int64_t, StudyInfo>> find_study(const std::string& name);
  std::vector<std::string> study_names();

  std::vector<Trial> trials(int64_t study);

  // RUNNING trials whose worker process is gone are queued again: WAITING under their
  // own number (so with their own seed), their partial per-epoch values dropped, and
  // their "retries" attribute counting the times. Returns how many. FAILED trials (a
  // trial that training refused) are never asked again.
  int recover_stale(int64_t study);

  using SampleFn = std::function<ParamValues(const std::vector<Trial>& history, int number)>;
  // In one transaction: the oldest WAITING trial, else trial max+1 with sample(...);
  // either way stored RUNNING under this process.
  Trial ask(int64_t study, const SampleFn& sample);

  // Per-epoch values of several trials, in one transaction.
  void report(const std::vector<std::tuple<int64_t, int, double>>& trial_epoch_values);
  void finish(int64_t trial_id, TrialState state, std::optional<double> value,
              const std::map<std::string, std::string>& attrs);
  void heartbeat(const std::vector<int64_t>& trial_ids);

  void set_study_attr(int64_t study, const std::string& key, const std::string& value);
  std::optional<std::string> study_attr(int64_t study, const std::string& key);

  // This process, as recorded on the trials it runs: host:pid:start-time.
  static std::string worker_id();

 private:
  void exec(const char* sql);
  // storage_open.cpp: whether the file has no tables yet (InputError if it is not ours).
  bool check_schema(bool read_only);
  void create_schema();
  std::vector<Trial> load_trials(int64_t study);  // the caller holds mutex_
  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;  // one connection, shared by the pack threads of this process
};

}  // namespace sgdlab
