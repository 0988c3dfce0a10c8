// The SQLite engine: studies and trials in one file, shared by the processes of one
// machine (opening and the schema: storage_sqlite_open.cpp).
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sgdlab/core/error.hpp"
#include "sqlite.hpp"
#include "storage_sqlite.hpp"

namespace sgdlab {
namespace {

using storage_detail::now_iso;
using storage_detail::now_seconds;
using storage_detail::Stmt;
using storage_detail::Transaction;

std::string params_json(const ParamValues& p) {
  return nlohmann::json(p).dump();
}
ParamValues params_from(const std::string& s) {
  return nlohmann::json::parse(s).get<ParamValues>();
}

// Whether the worker that wrote `worker` (host:pid:start) is still running. On this
// host the process table says so at once (a resumed sweep retries its killed trials
// without waiting); the file may be shared with other hosts (a network file system),
// whose processes only their heartbeats show.
bool worker_alive(const std::string& worker, double heartbeat, double grace_seconds) {
  std::istringstream in(worker);
  std::string host, pid_text, start;
  std::getline(in, host, ':');
  std::getline(in, pid_text, ':');
  std::getline(in, start);
  char here[256] = {};
  gethostname(here, sizeof here - 1);
  if (host != here) return now_seconds() - heartbeat < grace_seconds;
  const pid_t pid = pid_t(std::atol(pid_text.c_str()));
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
  // The pid may have been reused: compare the process start time.
  std::ifstream stat("/proc/" + pid_text + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return true;
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  for (int i = 0; i < 20 && fields >> f; ++i) {
  }  // field 22 is the start time
  return f == start;
}

// The study of that name, read through the caller's connection (and lock).
std::optional<std::pair<int64_t, StudyInfo>> read_study(sqlite3* db, const std::string& name) {
  Stmt q(db, "SELECT study_id, model, sampler, seed, epochs, space FROM studies WHERE name = ?");
  q.bind(1, name);
  if (!q.step()) return std::nullopt;
  StudyInfo info{name,
                 q.text_at(1),
                 q.text_at(2),
                 uint64_t(q.int_at(3)),
                 int(q.int_at(4)),
                 nlohmann::json::parse(q.text_at(5))};
  return std::make_pair(q.int_at(0), info);
}

}  // namespace

std::optional<std::pair<int64_t, StudyInfo>> SqliteEngine::find_study(const std::string& name) {
  return read_study(db_, name);
}

std::vector<std::string> SqliteEngine::study_names() {
  Stmt q(db_, "SELECT name FROM studies ORDER BY study_id");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text_at(0));
  return out;
}

std::pair<int64_t, StudyInfo> SqliteEngine::open_study(const StudyInfo& info, bool* created) {
  // The lookup and the insert share one write lock: apart, two processes creating the
  // same name at once could both miss it, and the later one would join the earlier's
  // study without its settings ever being compared.
  Transaction tx(db_);
  auto found = read_study(db_, info.name);
  const bool inserted = !found;
  if (inserted) {
    Stmt(db_,
         "INSERT INTO studies(name, model, sampler, seed, epochs, space, created) "
         "VALUES(?, ?, ?, ?, ?, ?, ?)")
        .bind(1, info.name)
        .bind(2, info.model)
        .bind(3, info.sampler)
        .bind(4, int64_t(info.seed))
        .bind(5, info.epochs)
        .bind(6, info.space.dump())
        .bind(7, now_iso())
        .run();
    found = std::make_pair(int64_t(sqlite3_last_insert_rowid(db_)), info);
  }
  tx.commit();
  if (created) *created = inserted;
  return *found;
}

std::vector<Trial> SqliteEngine::trials(int64_t study) {
  std::vector<Trial> out;
  std::map<int64_t, size_t> index;
  Stmt q(db_,
         "SELECT trial_id, number, state, params, value, started, finished FROM trials "
         "WHERE study_id = ? ORDER BY number");
  q.bind(1, study);
  while (q.step()) {
    Trial t;
    t.id = q.int_at(0);
    t.number = int(q.int_at(1));
    t.state = trial_state_from(q.text_at(2));
    t.params = params_from(q.text_at(3));
    if (!q.null_at(4)) t.value = q.real_at(4);
    t.started = q.text_at(5);
    t.finished = q.text_at(6);
    index[t.id] = out.size();
    out.push_back(std::move(t));
  }
  Stmt v(db_,
         "SELECT v.trial_id, v.value FROM trial_values v JOIN trials t USING(trial_id) "
         "WHERE t.study_id = ? ORDER BY v.trial_id, v.epoch");
  v.bind(1, study);
  while (v.step())
    out[index.at(v.int_at(0))].intermediate.push_back(v.null_at(1) ? NAN : v.real_at(1));
  Stmt a(db_,
         "SELECT a.trial_id, a.key, a.value FROM trial_attrs a JOIN trials t USING(trial_id) "
         "WHERE t.study_id = ?");
  a.bind(1, study);
  while (a.step()) out[index.at(a.int_at(0))].attrs[a.text_at(1)] = a.text_at(2);
  return out;
}

// A trial asked again keeps its number and seed; its per-epoch values go, and its
// "retries" attribute counts one more.
void SqliteEngine::drop_values_and_count_a_retry(int64_t trial_id) {
  Stmt(db_, "DELETE FROM trial_values WHERE trial_id = ?").bind(1, trial_id).run();
  Stmt(db_,
       "INSERT INTO trial_attrs(trial_id, key, value) VALUES(?, 'retries', '1') "
       "ON CONFLICT(trial_id, key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")
      .bind(1, trial_id)
      .run();
}

int SqliteEngine::recover_stale(int64_t study, double grace_seconds) {
  Transaction tx(db_);
  std::vector<int64_t> stale;
  {
    Stmt q(db_,
           "SELECT trial_id, worker, heartbeat FROM trials WHERE study_id = ? AND state = "
           "'RUNNING'");
    q.bind(1, study);
    while (q.step())
      if (!worker_alive(q.text_at(1), q.real_at(2), grace_seconds)) stale.push_back(q.int_at(0));
  }
  // The trial keeps its number, hence its seed: the retry trains exactly what the
  // killed run was training, and the trials after it keep their numbers too.
  for (int64_t id : stale) {
    Stmt(db_,
         "UPDATE trials SET state = 'WAITING', started = NULL, worker = NULL, heartbeat = NULL "
         "WHERE trial_id = ?")
        .bind(1, id)
        .run();
    drop_values_and_count_a_retry(id);
  }
  tx.commit();
  return int(stale.size());
}

int SqliteEngine::requeue(const std::vector<int64_t>& trial_ids, const std::string& worker) {
  Transaction tx(db_);
  int queued = 0;
  for (int64_t id : trial_ids) {
    Stmt(db_,
         "UPDATE trials SET state = 'WAITING', started = NULL, worker = NULL, heartbeat = NULL "
         "WHERE trial_id = ? AND state = 'RUNNING' AND worker = ?")
        .bind(1, id)
        .bind(2, worker)
        .run();
    if (sqlite3_changes(db_) == 0) continue;  // finished, or taken over meanwhile
    ++queued;
    drop_values_and_count_a_retry(id);
  }
  tx.commit();
  return queued;
}

std::optional<Trial> SqliteEngine::ask(int64_t study, const StudyStorage::SampleFn& sample,
                                       const std::string& worker, int max_stored) {
  // The history is read under the write lock, so that the sampler sees every trial
  // that other processes asked before this one (the constant liar needs them).
  Transaction tx(db_);
  Trial t;
  {
    Stmt waiting(db_,
                 "SELECT trial_id, number, params FROM trials WHERE study_id = ? AND "
                 "state = 'WAITING' ORDER BY number LIMIT 1");
    waiting.bind(1, study);
    if (waiting.step()) {
      t.id = waiting.int_at(0);
      t.number = int(waiting.int_at(1));
      t.params = params_from(waiting.text_at(2));
    }
  }
  if (t.id == 0) {
    const std::vector<Trial> history = trials(study);
    if (int(history.size()) >= max_stored) return std::nullopt;  // rolled back: nothing written
    t.number = history.empty() ? 0 : history.back().number + 1;
    t.params = sample(history, t.number);
    Stmt(db_, "INSERT INTO trials(study_id, number, state, params) VALUES(?, ?, 'WAITING', ?)")
        .bind(1, study)
        .bind(2, t.number)
        .bind(3, params_json(t.params))
        .run();
    t.id = sqlite3_last_insert_rowid(db_);
  }
  t.state = TrialState::Running;
  t.started = now_iso();
  Stmt(db_,
       "UPDATE trials SET state = 'RUNNING', started = ?, worker = ?, heartbeat = ? WHERE trial_id "
       "= ?")
      .bind(1, t.started)
      .bind(2, worker)
      .bind(3, now_seconds())
      .bind(4, t.id)
      .run();
  tx.commit();
  return t;
}

void SqliteEngine::report(const TrialValues& values, const std::string&) {
  Transaction tx(db_);
  for (const auto& [id, epoch, value] : values) {
    Stmt s(db_, "INSERT OR REPLACE INTO trial_values(trial_id, epoch, value) VALUES(?, ?, ?)");
    s.bind(1, id).bind(2, epoch);
    std::isfinite(value) ? s.bind(3, value) : s.bind_null(3);
    s.run();
    Stmt(db_, "UPDATE trials SET heartbeat = ? WHERE trial_id = ?")
        .bind(1, now_seconds())
        .bind(2, id)
        .run();
  }
  tx.commit();
}

void SqliteEngine::finish(int64_t trial_id, TrialState state, std::optional<double> value,
                          const std::map<std::string, std::string>& attrs, const std::string&) {
  Transaction tx(db_);
  if (value && !std::isfinite(*value)) value.reset();
  Stmt(db_, "UPDATE trials SET state = ?, value = ?, finished = ? WHERE trial_id = ?")
      .bind(1, std::string(to_string(state)))
      .bind(2, value)
      .bind(3, now_iso())
      .bind(4, trial_id)
      .run();
  for (const auto& [k, v] : attrs)
    Stmt(db_, "INSERT OR REPLACE INTO trial_attrs(trial_id, key, value) VALUES(?, ?, ?)")
        .bind(1, trial_id)
        .bind(2, k)
        .bind(3, v)
        .run();
  tx.commit();
}

void SqliteEngine::heartbeat(const std::vector<int64_t>& ids, const std::string&) {
  Transaction tx(db_);
  for (int64_t id : ids)
    Stmt(db_, "UPDATE trials SET heartbeat = ? WHERE trial_id = ?")
        .bind(1, now_seconds())
        .bind(2, id)
        .run();
  tx.commit();
}

void SqliteEngine::set_study_attr(int64_t study, const std::string& key, const std::string& value) {
  Stmt(db_, "INSERT OR REPLACE INTO study_attrs(study_id, key, value) VALUES(?, ?, ?)")
      .bind(1, study)
      .bind(2, key)
      .bind(3, value)
      .run();
}

std::string SqliteEngine::claim_study_attr(int64_t study, const std::string& key,
                                           const std::string& value) {
  Stmt(db_, "INSERT OR IGNORE INTO study_attrs(study_id, key, value) VALUES(?, ?, ?)")
      .bind(1, study)
      .bind(2, key)
      .bind(3, value)
      .run();
  return study_attr(study, key).value_or("");
}

std::optional<std::string> SqliteEngine::study_attr(int64_t study, const std::string& key) {
  Stmt q(db_, "SELECT value FROM study_attrs WHERE study_id = ? AND key = ?");
  q.bind(1, study).bind(2, key);
  if (!q.step()) return std::nullopt;
  return q.text_at(0);
}

}  // namespace sgdlab
