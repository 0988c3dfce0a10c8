#pragma once
// The storage interface that StudyStorage (storage.cpp) drives: one implementation per
// database engine, SQLite (storage_sqlite*.cpp) and PostgreSQL (storage_postgres*.cpp).
// An engine owns one connection and is called by one thread at a time (StudyStorage
// holds its mutex around every call). Private to host/search.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sgdlab/search/storage.hpp"

namespace sgdlab {

class StorageEngine {
 public:
  using TrialValues = std::vector<std::tuple<int64_t, int, double>>;

  virtual ~StorageEngine() = default;

  // The study of that name as stored, created from `info` when there is none, in one
  // transaction (two workers creating it at once get the same study); *created says
  // which. The caller compares the stored settings with its own.
  virtual std::pair<int64_t, StudyInfo> open_study(const StudyInfo& info, bool* created) = 0;
  virtual std::optional<std::pair<int64_t, StudyInfo>> find_study(const std::string& name) = 0;
  virtual std::vector<std::string> study_names() = 0;
  // Ordered by number, with per-epoch values and attributes.
  virtual std::vector<Trial> trials(int64_t study) = 0;

  // See StudyStorage::recover_stale; `grace_seconds` is the heartbeat age of a dead worker.
  virtual int recover_stale(int64_t study, double grace_seconds) = 0;
  // See StudyStorage::release_held: these trials, where `worker` still runs them.
  virtual int requeue(const std::vector<int64_t>& trial_ids, const std::string& worker) = 0;
  // The oldest WAITING trial, else number max+1 sampled with the whole history while the
  // study holds fewer than `max_stored` trials (nothing when it holds that many), stored
  // RUNNING under `worker`; one transaction, serialised against the other askers.
  virtual std::optional<Trial> ask(int64_t study, const StudyStorage::SampleFn& sample,
                                   const std::string& worker, int max_stored) = 0;
  // Non-finite values are stored as NULL.
  virtual void report(const TrialValues& values, const std::string& worker) = 0;
  virtual void finish(int64_t trial_id, TrialState state, std::optional<double> value,
                      const std::map<std::string, std::string>& attrs,
                      const std::string& worker) = 0;
  virtual void heartbeat(const std::vector<int64_t>& trial_ids, const std::string& worker) = 0;

  virtual void set_study_attr(int64_t study, const std::string& key, const std::string& value) = 0;
  virtual std::optional<std::string> study_attr(int64_t study, const std::string& key) = 0;
  // Stores `value` unless the study has one under `key`; returns the stored value, so
  // that of two workers setting it at once both see the one that was stored first.
  virtual std::string claim_study_attr(int64_t study, const std::string& key,
                                       const std::string& value) = 0;
};

// `shown` is how errors name the store (a PostgreSQL URL without its password).
std::unique_ptr<StorageEngine> open_sqlite_engine(const std::string& path, StorageMode mode);
std::unique_ptr<StorageEngine> open_postgres_engine(const std::string& url,
                                                    const std::string& shown, StorageMode mode);
// The URL without its password (user:PASS@ and ?password=...), for messages.
std::string postgres_url_shown(const std::string& url);

}  // namespace sgdlab
