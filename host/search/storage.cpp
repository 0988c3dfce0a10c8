// StudyStorage: the engine chosen by the --study argument, one lock around its
// connection, the settings check of a resumed study, and the heartbeats of the trials
// this process holds.
#include "sgdlab/search/storage.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sgdlab/core/error.hpp"
#include "storage_engine.hpp"

namespace sgdlab {

bool is_postgres_url(const std::string& study_arg) {
  return study_arg.rfind("postgresql://", 0) == 0 || study_arg.rfind("postgres://", 0) == 0;
}

std::string StudyStorage::worker_id() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  std::string start = "0";
  const auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(line.substr(close + 2));
    for (int i = 0; i < 20 && fields >> start; ++i) {
    }
  }
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + start;
}

StudyStorage::StudyStorage(const std::string& study_arg, StorageMode mode, StorageOptions options)
    : shown_(is_postgres_url(study_arg) ? postgres_url_shown(study_arg) : study_arg),
      options_(options) {
  if (!(options_.heartbeat_grace_seconds > 0) || !std::isfinite(options_.heartbeat_grace_seconds))
    SGDLAB_INPUT_ERROR("--heartbeat-grace: expected a number of seconds > 0, got ",
                       options_.heartbeat_grace_seconds);
  engine_ = is_postgres_url(study_arg) ? open_postgres_engine(study_arg, shown_, mode)
                                       : open_sqlite_engine(study_arg, mode);
}

StudyStorage::~StudyStorage() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

std::unique_ptr<StudyStorage> open_study_storage(const std::string& study_arg, OpenMode mode,
                                                 StorageOptions options) {
  return std::make_unique<StudyStorage>(study_arg, mode, options);
}

int64_t StudyStorage::open_study(const StudyInfo& info, bool* created) {
  std::unique_lock lock(mutex_);
  bool inserted = false;
  const auto [id, s] = engine_->open_study(info, &inserted);
  lock.unlock();
  if (s.model != info.model || s.sampler != info.sampler || s.space != info.space ||
      s.epochs != info.epochs || s.seed != info.seed)
    SGDLAB_INPUT_ERROR(shown_, ": study '", info.name, "' exists with model ", s.model,
                       ", sampler ", s.sampler, ", ", s.epochs, " epochs, seed ", s.seed,
                       " and space ", s.space.dump(),
                       "; resume it with the same settings or choose another --name");
  if (created) *created = inserted;
  return id;
}

std::optional<std::pair<int64_t, StudyInfo>> StudyStorage::find_study(const std::string& name) {
  std::lock_guard lock(mutex_);
  return engine_->find_study(name);
}

std::vector<std::string> StudyStorage::study_names() {
  std::lock_guard lock(mutex_);
  return engine_->study_names();
}

std::vector<Trial> StudyStorage::trials(int64_t study) {
  std::lock_guard lock(mutex_);
  return engine_->trials(study);
}

int StudyStorage::recover_stale(int64_t study) {
  std::lock_guard lock(mutex_);
  return engine_->recover_stale(study, options_.heartbeat_grace_seconds);
}

int StudyStorage::release_held() {
  std::lock_guard lock(mutex_);
  const int queued = engine_->requeue({held_.begin(), held_.end()}, worker_id());
  held_.clear();
  return queued;
}

Trial StudyStorage::ask(int64_t study, const SampleFn& sample) {
  return *ask_within(study, sample, INT_MAX);
}

std::optional<Trial> StudyStorage::ask_within(int64_t study, const SampleFn& sample,
                                              int max_stored) {
  std::lock_guard lock(mutex_);
  std::optional<Trial> t = engine_->ask(study, sample, worker_id(), max_stored);
  if (!t) return t;
  held_.insert(t->id);
  start_heartbeats();
  return t;
}

void StudyStorage::report(const std::vector<std::tuple<int64_t, int, double>>& values) {
  std::lock_guard lock(mutex_);
  engine_->report(values, worker_id());
}

void StudyStorage::finish(int64_t trial_id, TrialState state, std::optional<double> value,
                          const std::map<std::string, std::string>& attrs) {
  std::lock_guard lock(mutex_);
  engine_->finish(trial_id, state, value, attrs, worker_id());
  held_.erase(trial_id);
}

void StudyStorage::heartbeat(const std::vector<int64_t>& ids) {
  std::lock_guard lock(mutex_);
  engine_->heartbeat(ids, worker_id());
}

void StudyStorage::set_study_attr(int64_t study, const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  engine_->set_study_attr(study, key, value);
}

std::optional<std::string> StudyStorage::study_attr(int64_t study, const std::string& key) {
  std::lock_guard lock(mutex_);
  return engine_->study_attr(study, key);
}

// The sweep asks a whole wave of trials before it trains them pack after pack, and an
// epoch of a large pack may take minutes: beating from a thread of its own keeps every
// trial this process holds alive however long it waits for its turn or its epoch.
void StudyStorage::start_heartbeats() {
  if (heartbeat_thread_.joinable()) return;
  heartbeat_thread_ = std::thread([this] { beat_loop(); });
}

void StudyStorage::beat_loop() {
  // Four beats per grace period: a worker loses its trials only after missing four.
  const auto interval =
      std::chrono::duration<double>(std::clamp(options_.heartbeat_grace_seconds / 4, 0.05, 30.0));
  bool warned = false;
  std::unique_lock lock(mutex_);
  while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    if (held_.empty()) continue;
    try {
      engine_->heartbeat({held_.begin(), held_.end()}, worker_id());
      warned = false;
    } catch (const std::exception& e) {
      // The next beat tries again (the PostgreSQL engine reconnects); the training goes
      // on, and an operation of the sweep itself reports a store that stays away.
      if (!warned)
        std::cerr << "sgdlab: warning: heartbeat to " << shown_ << ": " << e.what() << "\n";
      warned = true;
    }
  }
}

}  // namespace sgdlab
