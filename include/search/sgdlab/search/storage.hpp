#pragma once
// Study storage: studies, trials (number, state, parameters, value, per-epoch values,
// timestamps) and attributes, shared safely by any number of worker processes. Two
// engines behind one interface (host/search/storage_engine.hpp): a SQLite file (WAL),
// the embedded default, for workers on one machine; a PostgreSQL database
// (postgresql://USER[:PASS]@HOST[:PORT]/DB) for workers on many machines. A study is
// resumed by name.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sgdlab/search/trial.hpp"

namespace sgdlab {

struct StudyInfo {
  std::string name;
  std::string model;
  std::string sampler;
  uint64_t seed = 0;
  int epochs = 0;
  nlohmann::json space;  // SearchSpace::to_json()
};

// ReadWrite creates the file (or the database's schema) where needed; ReadOnly (trials,
// narrow, export) creates nothing, not even -wal/-shm files, and refuses a store with no
// study tables.
enum class StorageMode { ReadWrite, ReadOnly };
using OpenMode = StorageMode;

struct StorageOptions {
  // A RUNNING trial whose last heartbeat is older than this is taken for the trial of a
  // dead worker and asked again. Workers beat every grace / 4 seconds (at most 30 s)
  // while they hold a trial, so only a worker that is gone, frozen or cut off for the
  // whole grace period loses its trials.
  double heartbeat_grace_seconds = 120;
};

class StorageEngine;  // host/search/storage_engine.hpp

// Whether a --study argument names a PostgreSQL database (postgresql:// or postgres://,
// the scheme in any case).
bool is_postgres_url(const std::string& study_arg);

// A --study argument as the storage takes it: a PostgreSQL URL with its scheme in lower
// case (libpq reads no other); sqlite:///PATH as PATH, in SQLAlchemy's (and so Optuna's)
// form, relative unless PATH starts with a / (sqlite:////tmp/s.db is /tmp/s.db); a path
// as it is. Any other SCHEME:// is an InputError naming the forms sgdlab reads, rather
// than a file path that makes folders named "mysql:".
std::string resolve_study_arg(const std::string& study_arg);

// The one handle every caller uses. It picks the engine from the argument, serialises
// the calls of a process's threads on its one connection, and keeps the heartbeats of
// the trials this process holds.
class StudyStorage {
 public:
  // A store that cannot be opened (a file, or a server that refuses or cannot be
  // reached), or is not a study store of this schema version, is an InputError naming
  // it (never with its password), raised before anything is written to it.
  explicit StudyStorage(const std::string& study_arg, StorageMode mode = StorageMode::ReadWrite,
                        StorageOptions options = {});
  ~StudyStorage();
  StudyStorage(const StudyStorage&) = delete;
  StudyStorage& operator=(const StudyStorage&) = delete;

  // The store as errors and logs name it: the file, or the URL without its password.
  const std::string& path() const { return shown_; }
  const StorageOptions& options() const { return options_; }

  // Creates the study or loads the stored one of that name; a stored study keeps its
  // settings, and a different model, sampler, number of epochs, seed or space is an
  // InputError that names each setting that differs.
  int64_t open_study(const StudyInfo& info, bool* created = nullptr);
  // The data a study's trials train on (its identity, engine/data_identity.hpp) is
  // recorded with the study by its first worker, or on first use for a study of an older
  // sgdlab that has none; a worker with other data is an InputError naming what differs.
  void check_data(int64_t study, const std::string& name, const nlohmann::json& identity);
  std::optional<std::pair<int64_t, StudyInfo>> find_study(const std::string& name);
  std::vector<std::string> study_names();

  std::vector<Trial> trials(int64_t study);

  // RUNNING trials of dead workers are queued again: WAITING under their own number (so
  // with their own seed), their partial per-epoch values dropped, and their "retries"
  // attribute counting the times. Returns how many. Dead means: SQLite, a process of
  // this host that is gone, or a heartbeat older than the grace period from another
  // host; PostgreSQL, a heartbeat older than the grace period by the server's clock
  // (a process id means nothing on another machine). FAILED trials (a trial that
  // training refused) are never asked again.
  int recover_stale(int64_t study);
  // The trials this process asked and has not finished go back to WAITING, as a dead
  // worker's would (same number and seed, partial values dropped, "retries" counted), so
  // that a stopped worker (SIGINT, SIGTERM) leaves none RUNNING. Returns how many.
  int release_held();

  using SampleFn = std::function<ParamValues(const std::vector<Trial>& history, int number)>;
  // In one transaction: the oldest WAITING trial, else trial max+1 with sample(...);
  // either way stored RUNNING under this process, which beats its heartbeat from then
  // until finish().
  Trial ask(int64_t study, const SampleFn& sample);
  // The same, but a new trial only while the study holds fewer than `max_stored` trials
  // (of any state): workers that share a study and a trial budget cannot overshoot it,
  // since the count and the insert are one transaction. Nothing when it holds that many.
  std::optional<Trial> ask_within(int64_t study, const SampleFn& sample, int max_stored);

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
  void start_heartbeats();  // the caller holds mutex_
  void beat_loop();

  std::string shown_;
  StorageOptions options_;
  std::unique_ptr<StorageEngine> engine_;
  std::mutex mutex_;  // one connection, shared by the pack threads of this process
  // Trials asked here and not finished yet, beaten by heartbeat_thread_.
  std::set<int64_t> held_;
  std::thread heartbeat_thread_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

// The factory: a path (or sqlite:///PATH) opens (or creates) a SQLite file, a
// postgresql:// or postgres:// URL a PostgreSQL database (the password may come from the URL,
// PGPASSWORD or
// ~/.pgpass, as libpq reads them).
std::unique_ptr<StudyStorage> open_study_storage(const std::string& study_arg,
                                                 OpenMode mode = OpenMode::ReadWrite,
                                                 StorageOptions options = {});

}  // namespace sgdlab
