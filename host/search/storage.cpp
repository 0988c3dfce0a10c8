#include "sgdlab/search/storage.hpp"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

constexpr int kSchemaVersion = 1;
constexpr double kStaleSeconds = 600;  // a worker on another host is gone after this silence

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies(
  study_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  sampler TEXT NOT NULL,
  seed INTEGER NOT NULL,
  epochs INTEGER NOT NULL,
  space TEXT NOT NULL,
  direction TEXT NOT NULL DEFAULT 'maximize',
  created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials(
  trial_id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(study_id),
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  params TEXT NOT NULL,
  value REAL,
  started TEXT,
  finished TEXT,
  worker TEXT,
  heartbeat REAL,
  UNIQUE(study_id, number));
CREATE TABLE IF NOT EXISTS trial_values(
  trial_id INTEGER NOT NULL REFERENCES trials(trial_id),
  epoch INTEGER NOT NULL,
  value REAL,
  PRIMARY KEY(trial_id, epoch));
CREATE TABLE IF NOT EXISTS trial_attrs(
  trial_id INTEGER NOT NULL REFERENCES trials(trial_id),
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(trial_id, key));
CREATE TABLE IF NOT EXISTS study_attrs(
  study_id INTEGER NOT NULL REFERENCES studies(study_id),
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(study_id, key));
)sql";

std::string now_iso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      SGDLAB_THROW("SQLite: cannot prepare '", sql, "': ", sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Stmt& bind(int i, int v) { return bind(i, int64_t(v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind_null(int i) { return check(sqlite3_bind_null(stmt_, i)); }
  Stmt& bind(int i, std::optional<double> v) { return v ? bind(i, *v) : bind_null(i); }

  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    SGDLAB_THROW("SQLite: ", sqlite3_errmsg(db_));
  }
  void run() {
    while (step()) {
    }
  }
  int64_t int_at(int c) const { return sqlite3_column_int64(stmt_, c); }
  bool null_at(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  double real_at(int c) const { return sqlite3_column_double(stmt_, c); }
  std::string text_at(int c) const {
    const auto* p = sqlite3_column_text(stmt_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) SGDLAB_THROW("SQLite bind: ", sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front, so that two processes asking at once
// queue on the busy timeout instead of failing at commit; rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec("COMMIT");
    done_ = true;
  }

 private:
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "?";
      sqlite3_free(err);
      SGDLAB_THROW("SQLite ", sql, ": ", msg);
    }
  }
  sqlite3* db_;
  bool done_ = false;
};

std::string params_json(const ParamValues& p) {
  return nlohmann::json(p).dump();
}
ParamValues params_from(const std::string& s) {
  return nlohmann::json::parse(s).get<ParamValues>();
}

// Whether the worker that wrote `worker` (host:pid:start) is still running.
bool worker_alive(const std::string& worker, double heartbeat) {
  std::istringstream in(worker);
  std::string host, pid_text, start;
  std::getline(in, host, ':');
  std::getline(in, pid_text, ':');
  std::getline(in, start);
  char here[256] = {};
  gethostname(here, sizeof here - 1);
  if (host != here) return now_seconds() - heartbeat < kStaleSeconds;
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

StudyStorage::StudyStorage(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    SGDLAB_INPUT_ERROR(path, ": cannot open the study database (", msg, ")");
  }
  sqlite3_busy_timeout(db_, 120000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    Transaction tx(db_);
    exec(kSchema);
    Stmt(db_, "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)")
        .bind(1, std::to_string(kSchemaVersion))
        .run();
    tx.commit();
    Stmt version(db_, "SELECT value FROM meta WHERE key = 'schema_version'");
    if (version.step() && version.text_at(0) != std::to_string(kSchemaVersion))
      SGDLAB_INPUT_ERROR(path, ": study database schema ", version.text_at(0), ", expected ",
                         kSchemaVersion);
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

StudyStorage::~StudyStorage() {
  sqlite3_close(db_);
}

void StudyStorage::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    if (msg.find("not a database") != std::string::npos ||
        msg.find("malformed") != std::string::npos)
      SGDLAB_INPUT_ERROR(path_, ": not a sgdlab study database (", msg, ")");
    SGDLAB_THROW("SQLite: ", msg);
  }
}

std::optional<std::pair<int64_t, StudyInfo>> StudyStorage::find_study(const std::string& name) {
  std::lock_guard lock(mutex_);
  return read_study(db_, name);
}

std::vector<std::string> StudyStorage::study_names() {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT name FROM studies ORDER BY study_id");
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text_at(0));
  return out;
}

int64_t StudyStorage::open_study(const StudyInfo& info, bool* created) {
  std::lock_guard lock(mutex_);
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
  const StudyInfo& s = found->second;
  if (s.model != info.model || s.sampler != info.sampler || s.space != info.space ||
      s.epochs != info.epochs || s.seed != info.seed)
    SGDLAB_INPUT_ERROR(path_, ": study '", info.name, "' exists with model ", s.model, ", sampler ",
                       s.sampler, ", ", s.epochs, " epochs, seed ", s.seed, " and space ",
                       s.space.dump(),
                       "; resume it with the same settings or choose another --name");
  if (created) *created = inserted;
  return found->first;
}

std::vector<Trial> StudyStorage::trials(int64_t study) {
  std::lock_guard lock(mutex_);
  return load_trials(study);
}

std::vector<Trial> StudyStorage::load_trials(int64_t study) {
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

int StudyStorage::recover_stale(int64_t study) {
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  std::vector<std::tuple<int64_t, int, std::string>> stale;
  {
    Stmt q(db_,
           "SELECT trial_id, number, params, worker, heartbeat FROM trials "
           "WHERE study_id = ? AND state = 'RUNNING'");
    q.bind(1, study);
    while (q.step())
      if (!worker_alive(q.text_at(3), q.real_at(4)))
        stale.emplace_back(q.int_at(0), int(q.int_at(1)), q.text_at(2));
  }
  for (const auto& [id, number, params] : stale) {
    Stmt(db_, "UPDATE trials SET state = 'FAILED', finished = ? WHERE trial_id = ?")
        .bind(1, now_iso())
        .bind(2, id)
        .run();
    Stmt(db_,
         "INSERT INTO trials(study_id, number, state, params) "
         "VALUES(?, (SELECT COALESCE(MAX(number), -1) + 1 FROM trials WHERE study_id = ?), "
         "'WAITING', ?)")
        .bind(1, study)
        .bind(2, study)
        .bind(3, params)
        .run();
    Stmt(db_, "INSERT INTO trial_attrs(trial_id, key, value) VALUES(?, 'retry_of', ?)")
        .bind(1, int64_t(sqlite3_last_insert_rowid(db_)))
        .bind(2, std::to_string(number))
        .run();
  }
  tx.commit();
  return int(stale.size());
}

Trial StudyStorage::ask(int64_t study, const SampleFn& sample) {
  std::lock_guard lock(mutex_);
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
    const std::vector<Trial> history = load_trials(study);
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
      .bind(2, worker_id())
      .bind(3, now_seconds())
      .bind(4, t.id)
      .run();
  tx.commit();
  return t;
}

void StudyStorage::report(const std::vector<std::tuple<int64_t, int, double>>& values) {
  std::lock_guard lock(mutex_);
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

void StudyStorage::finish(int64_t trial_id, TrialState state, std::optional<double> value,
                          const std::map<std::string, std::string>& attrs) {
  std::lock_guard lock(mutex_);
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

void StudyStorage::heartbeat(const std::vector<int64_t>& ids) {
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  for (int64_t id : ids)
    Stmt(db_, "UPDATE trials SET heartbeat = ? WHERE trial_id = ?")
        .bind(1, now_seconds())
        .bind(2, id)
        .run();
  tx.commit();
}

void StudyStorage::set_study_attr(int64_t study, const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  Stmt(db_, "INSERT OR REPLACE INTO study_attrs(study_id, key, value) VALUES(?, ?, ?)")
      .bind(1, study)
      .bind(2, key)
      .bind(3, value)
      .run();
}

std::optional<std::string> StudyStorage::study_attr(int64_t study, const std::string& key) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT value FROM study_attrs WHERE study_id = ? AND key = ?");
  q.bind(1, study).bind(2, key);
  if (!q.step()) return std::nullopt;
  return q.text_at(0);
}

}  // namespace sgdlab
