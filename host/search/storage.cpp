// StudyStorage: the engine chosen by the --study argument, one lock around its
// connection, the settings check of a resumed study, and the heartbeats of the trials
// this process holds.
#include "sgdlab/search/storage.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/data_identity.hpp"
#include "storage_engine.hpp"

namespace sgdlab {

namespace {

// The scheme of "SCHEME://..." in lower case (RFC 3986: a letter, then letters, digits,
// "+", "-" or "."), or "" for anything else, a file path.
std::string url_scheme(const std::string& arg) {
  const size_t end = arg.find("://");
  if (end == std::string::npos || end == 0 || !std::isalpha(static_cast<unsigned char>(arg[0])))
    return "";
  std::string scheme;
  for (size_t i = 0; i < end; ++i) {
    const auto c = static_cast<unsigned char>(arg[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return "";
    scheme += char(std::tolower(c));
  }
  return scheme;
}

// "epochs 2 (the study has 1)": a setting as given now and as the study has it.
void add_if_differs(std::vector<std::string>& out, const std::string& what, const std::string& now,
                    const std::string& stored) {
  if (now != stored) out.push_back(what + " " + now + " (the study has " + stored + ")");
}

// Each setting of `now` that differs from the stored study's; a space by its parameters.
std::string settings_difference(const StudyInfo& stored, const StudyInfo& now) {
  std::vector<std::string> parts;
  add_if_differs(parts, "model", now.model, stored.model);
  add_if_differs(parts, "sampler", now.sampler, stored.sampler);
  add_if_differs(parts, "epochs", std::to_string(now.epochs), std::to_string(stored.epochs));
  add_if_differs(parts, "seed", std::to_string(now.seed), std::to_string(stored.seed));
  auto param = [](const nlohmann::json& space, const std::string& name) -> std::string {
    return space.is_object() && space.contains(name) ? space.at(name).dump() : "none";
  };
  std::set<std::string> names;
  for (const nlohmann::json* space : {&now.space, &stored.space})
    if (space->is_object())
      for (const auto& [name, spec] : space->items()) names.insert(name);
  for (const std::string& name : names)
    add_if_differs(parts, "space parameter " + name, param(now.space, name),
                   param(stored.space, name));
  // A space that is not an object at all (a hand-edited database) differs as a whole.
  if (parts.empty()) add_if_differs(parts, "space", now.space.dump(), stored.space.dump());
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

bool is_postgres_url(const std::string& study_arg) {
  const std::string scheme = url_scheme(study_arg);
  return scheme == "postgresql" || scheme == "postgres";
}

std::string resolve_study_arg(const std::string& study_arg) {
  const std::string scheme = url_scheme(study_arg);
  if (scheme.empty()) return study_arg;
  const std::string rest = study_arg.substr(scheme.size() + 3);
  if (scheme == "postgresql" || scheme == "postgres") return scheme + "://" + rest;
  if (scheme == "sqlite") {
    if (rest.size() > 1 && rest[0] == '/') return rest.substr(1);
    SGDLAB_INPUT_ERROR("--study ", study_arg, ": expected sqlite:///PATH (sqlite:///runs/s.db for ",
                       "runs/s.db, sqlite:////tmp/s.db for /tmp/s.db)");
  }
  // Only the scheme is named: the rest may hold a password.
  SGDLAB_INPUT_ERROR("--study: unsupported URL scheme '", study_arg.substr(0, scheme.size()),
                     "://' (expected a SQLite file path, sqlite:///PATH, or ",
                     "postgresql://USER[:PASS]@HOST[:PORT]/DB)");
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
    : options_(options) {
  if (!(options_.heartbeat_grace_seconds > 0) || !std::isfinite(options_.heartbeat_grace_seconds))
    SGDLAB_INPUT_ERROR("--heartbeat-grace: expected a number of seconds > 0, got ",
                       options_.heartbeat_grace_seconds);
  const std::string arg = resolve_study_arg(study_arg);
  const bool postgres = is_postgres_url(arg);
  shown_ = postgres ? postgres_url_shown(arg) : arg;
  engine_ = postgres ? open_postgres_engine(arg, shown_, mode) : open_sqlite_engine(arg, mode);
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
    SGDLAB_INPUT_ERROR(shown_, ": study '", info.name,
                       "' exists with other settings: ", settings_difference(s, info),
                       "; resume it with the same settings or choose another --name");
  if (created) *created = inserted;
  return id;
}

void StudyStorage::check_data(int64_t study, const std::string& name,
                              const nlohmann::json& identity) {
  std::unique_lock lock(mutex_);
  const std::string stored = engine_->claim_study_attr(study, "data", identity.dump());
  lock.unlock();
  const std::string diff = data_identity_difference(nlohmann::json::parse(stored, nullptr, false),
                                                    identity, "the study");
  if (!diff.empty())
    SGDLAB_INPUT_ERROR(shown_, ": study '", name, "' was run on other data: ", diff,
                       "; give it the same data or choose another --name");
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
