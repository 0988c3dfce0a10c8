// Opening a SQLite study database: read-write (the schema made in an empty file) or
// read-only (nothing created, no -wal/-shm left behind). Either way a file that is not a
// study database of this version is refused before anything is written to it.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "sgdlab/core/error.hpp"
#include "sqlite.hpp"
#include "storage_sqlite.hpp"

namespace sgdlab {
namespace {

using storage_detail::Stmt;
using storage_detail::Transaction;

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies(
  study_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  sampler TEXT NOT NULL,
  seed INTEGER NOT NULL,
  epochs INTEGER NOT NULL,
  space TEXT NOT NULL,
  direction TEXT NOT NULL DEFAULT 'maximize',
  created TEXT NOT NULL);
CREATE TABLE trials(
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
CREATE TABLE trial_values(
  trial_id INTEGER NOT NULL REFERENCES trials(trial_id),
  epoch INTEGER NOT NULL,
  value REAL,
  PRIMARY KEY(trial_id, epoch));
CREATE TABLE trial_attrs(
  trial_id INTEGER NOT NULL REFERENCES trials(trial_id),
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(trial_id, key));
CREATE TABLE study_attrs(
  study_id INTEGER NOT NULL REFERENCES studies(study_id),
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(study_id, key));
)sql";

using Columns = std::map<std::string, std::set<std::string>>;

// Each table's columns, as the file has them.
Columns columns_of(sqlite3* db) {
  Stmt q(db,
         "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
         "WHERE m.type = 'table'");
  Columns out;
  while (q.step()) out[q.text_at(0)].insert(q.text_at(1));
  return out;
}

// The columns of kSchema, read from an in-memory database made with it.
const Columns& expected_columns() {
  static const Columns columns = [] {
    sqlite3* db = nullptr;
    SGDLAB_CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "an in-memory database");
    SGDLAB_CHECK(sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr) == SQLITE_OK, "the schema");
    Columns c = columns_of(db);
    sqlite3_close(db);
    return c;
  }();
  return columns;
}

// Why the file is not a study database of this version, or "" (also when it has no
// tables at all: *empty says so). Reads only.
std::string schema_problem(sqlite3* db, bool* empty) {
  const Columns have = columns_of(db);
  *empty = have.empty();
  if (have.empty()) return "";
  for (const auto& [table, columns] : expected_columns()) {
    const auto found = have.find(table);
    if (found == have.end()) return "it has no table '" + table + "'";
    for (const auto& c : columns)
      if (!found->second.count(c)) return "its table '" + table + "' has no column '" + c + "'";
  }
  Stmt v(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!v.step()) return "it has no schema version";
  if (v.text_at(0) != std::to_string(kSchemaVersion))
    return "schema " + v.text_at(0) + ", this sgdlab reads schema " +
           std::to_string(kSchemaVersion);
  return "";
}

// A study database of a newer sgdlab is refused for its version, before its columns
// (which may have changed) are compared: that is the reason to give.
void refuse_newer_schema(sqlite3* db, const std::string& path) {
  const Columns have = columns_of(db);
  const auto meta = have.find("meta");
  if (meta == have.end() || !meta->second.count("key") || !meta->second.count("value")) return;
  Stmt v(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (v.step() && std::atoll(v.text_at(0).c_str()) > kSchemaVersion)
    SGDLAB_INPUT_ERROR(path, ": study schema version ", v.text_at(0),
                       " is newer than this sgdlab's (", kSchemaVersion,
                       "): open it with a newer sgdlab");
}

// A path as an SQLite URI ("file:" and the path, its unsafe characters %-escaped).
std::string file_uri(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char ch : path) {
    if (std::isalnum(ch) || std::string("/-._~").find(char(ch)) != std::string::npos) {
      uri += char(ch);
    } else {
      uri += '%';
      uri += hex[ch >> 4];
      uri += hex[ch & 15];
    }
  }
  return uri;
}

// Why a study that a sweep must write to cannot be written: the file or its folder (where
// SQLite keeps the -wal and -shm files) is read-only, or what SQLite said.
std::string why_not_writable(const std::string& path, const std::string& sqlite_says) {
  if (access(path.c_str(), F_OK) == 0 && access(path.c_str(), W_OK) != 0)
    return "the file is read-only";
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (access(folder.empty() ? "." : folder.c_str(), W_OK) != 0)
    return "its folder is read-only, and SQLite keeps the -wal and -shm files there";
  return sqlite_says;
}

// The error codes of a database that can be read but not written here.
bool is_write_refusal(int code) {
  return code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM ||
         code == SQLITE_AUTH;
}

}  // namespace

std::unique_ptr<StorageEngine> open_sqlite_engine(const std::string& path, StorageMode mode) {
  return std::make_unique<SqliteEngine>(path, mode);
}

// How long a busy database is waited for, by SQLite's busy handler and by the retries of
// the open around it.
constexpr int kBusyTimeoutMs = 120000;

SqliteEngine::SqliteEngine(const std::string& path, StorageMode mode) : path_(path) {
  // Some of the open's statements get SQLITE_BUSY without SQLite's busy handler waiting:
  // "PRAGMA journal_mode=WAL" on a new file, which upgrades its read to a write while
  // another worker reads (SQLite refuses at once rather than risk a deadlock), and, in WAL
  // mode, a first read while the last connection to close cleans up the -wal and -shm
  // files. Workers that start at once on a new study met the first ("database is locked"
  // within 0.1 s), so the whole open is tried again, with a growing pause, until the busy
  // timeout has passed.
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    // Each try waits in SQLite's busy handler only for what is left of the timeout.
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (try_open(mode, int(std::max<int64_t>(1, left)))) break;
    if (Clock::now() > deadline)
      SGDLAB_THROW("SQLite: ", path, ": database is locked (still busy after ",
                   kBusyTimeoutMs / 1000, " s)");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

bool SqliteEngine::try_open(StorageMode mode, int busy_ms) {
  const std::string& path = path_;
  const bool read_only = mode == StorageMode::ReadOnly;
  std::string name = path;
  int flags = SQLITE_OPEN_FULLMUTEX;
  if (read_only) {
    // A read-only connection to a WAL database makes -wal/-shm files and leaves them. With
    // no -wal file, no writer has the file open and everything is in the file itself:
    // read it as immutable, which creates nothing. (A writer that starts meanwhile could
    // checkpoint under this short read; that would be a read error, never a write.)
    const bool wal = std::filesystem::exists(path + "-wal");
    name = file_uri(path) + (wal ? "?mode=ro" : "?mode=ro&immutable=1");
    flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
  } else {
    flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  }
  if (sqlite3_open_v2(name.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    if (!read_only && std::filesystem::exists(path))
      SGDLAB_INPUT_ERROR(path, ": the study cannot be opened for writing (",
                         why_not_writable(path, msg), ")");
    SGDLAB_INPUT_ERROR(path, ": cannot open the study database (", msg, ")");
  }
  sqlite3_busy_timeout(db_, busy_ms);
  try {
    // SQLite opens a file it may not write read-only without a word; a sweep would fail
    // at its first write, after the work.
    if (!read_only && sqlite3_db_readonly(db_, "main") == 1)
      SGDLAB_INPUT_ERROR(path, ": the study cannot be opened for writing (",
                         why_not_writable(path, "SQLite opened it read-only"), ")");
    const bool empty = check_schema(read_only);
    if (!read_only) {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec("PRAGMA foreign_keys=ON");
      if (empty) create_schema();
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);  // the study's own statements, from now on
    return true;
  } catch (const InputError&) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  } catch (const Error&) {
    // A file that can be read but whose -wal/-shm cannot be made (a read-only folder)
    // fails at its first statement.
    const int code = sqlite3_errcode(db_);
    const std::string msg = sqlite3_errmsg(db_);
    sqlite3_close(db_);
    db_ = nullptr;
    if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) return false;
    if (!read_only && is_write_refusal(code))
      SGDLAB_INPUT_ERROR(path, ": the study cannot be opened for writing (",
                         why_not_writable(path, msg), ")");
    throw;
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

bool SqliteEngine::check_schema(bool read_only) {
  bool empty = false;
  std::string problem;
  try {
    refuse_newer_schema(db_, path_);
    problem = schema_problem(db_, &empty);
  } catch (const Error&) {
    const int code = sqlite3_errcode(db_);
    if (code != SQLITE_NOTADB && code != SQLITE_CORRUPT) throw;
    problem = sqlite3_errmsg(db_);
  }
  if (problem.empty() && empty && read_only) problem = "it has no tables";
  if (!problem.empty()) SGDLAB_INPUT_ERROR(path_, ": not a sgdlab study database (", problem, ")");
  return empty;
}

void SqliteEngine::create_schema() {
  // Another process may make the schema between the check and here: look again under
  // the write lock.
  Transaction tx(db_);
  refuse_newer_schema(db_, path_);
  bool empty = false;
  const std::string problem = schema_problem(db_, &empty);
  if (!problem.empty()) SGDLAB_INPUT_ERROR(path_, ": not a sgdlab study database (", problem, ")");
  if (empty) {
    exec(kSchema);
    Stmt(db_, "INSERT INTO meta(key, value) VALUES('schema_version', ?)")
        .bind(1, std::to_string(kSchemaVersion))
        .run();
  }
  tx.commit();
}

SqliteEngine::~SqliteEngine() {
  sqlite3_close(db_);
}

void SqliteEngine::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    if (msg.find("not a database") != std::string::npos ||
        msg.find("malformed") != std::string::npos)
      SGDLAB_INPUT_ERROR(path_, ": not a sgdlab study database (", msg, ")");
    // The statement's first line names it (the schema is many).
    const std::string statement(sql, std::strcspn(sql, "\n"));
    SGDLAB_THROW("SQLite: ", statement, ": ", msg);
  }
}

}  // namespace sgdlab
