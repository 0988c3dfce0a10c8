#pragma once
// The SQLite engine of the study storage: one file in WAL mode, shared by the
// processes of one machine (storage_sqlite.cpp: studies and trials;
// storage_sqlite_open.cpp: opening, the schema and its version). Private to host/search.
#include <string>

#include "storage_engine.hpp"

struct sqlite3;

namespace sgdlab {

class SqliteEngine final : public StorageEngine {
 public:
  // A file that cannot be opened, or is not a study database of this version, is an
  // InputError naming it, raised before anything is written to the file.
  SqliteEngine(const std::string& path, StorageMode mode);
  ~SqliteEngine() override;

  std::pair<int64_t, StudyInfo> open_study(const StudyInfo& info, bool* created) override;
  std::optional<std::pair<int64_t, StudyInfo>> find_study(const std::string& name) override;
  std::vector<std::string> study_names() override;
  std::vector<Trial> trials(int64_t study) override;
  int recover_stale(int64_t study, double grace_seconds) override;
  int requeue(const std::vector<int64_t>& trial_ids, const std::string& worker) override;
  std::optional<Trial> ask(int64_t study, const StudyStorage::SampleFn& sample,
                           const std::string& worker, int max_stored) override;
  void report(const TrialValues& values, const std::string& worker) override;
  void finish(int64_t trial_id, TrialState state, std::optional<double> value,
              const std::map<std::string, std::string>& attrs, const std::string& worker) override;
  void heartbeat(const std::vector<int64_t>& trial_ids, const std::string& worker) override;
  void set_study_attr(int64_t study, const std::string& key, const std::string& value) override;
  std::optional<std::string> study_attr(int64_t study, const std::string& key) override;
  std::string claim_study_attr(int64_t study, const std::string& key,
                               const std::string& value) override;

 private:
  // One try at opening, its busy handler waiting at most busy_ms; false if SQLite said
  // busy (see the constructor), with nothing left open.
  bool try_open(StorageMode mode, int busy_ms);
  void exec(const char* sql);
  void drop_values_and_count_a_retry(int64_t trial_id);
  // Whether the file has no tables yet (InputError if it is not ours).
  bool check_schema(bool read_only);
  void create_schema();
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace sgdlab
