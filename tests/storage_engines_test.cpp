// The study storage's contract, run against both engines (issue #16): a SQLite file and
// a real PostgreSQL database (skipped without SGDLAB_TEST_POSTGRES; tools/test_postgres.sh
// starts a server and sets it). Round trip, other settings, concurrent workers, a newer
// schema, read-only opening, heartbeats.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/search/sampler.hpp"
#include "sgdlab/search/storage.hpp"
#include "tests/postgres_util.hpp"
#include "tests/storage_util.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {
namespace {

// A SQLite study file in a temporary folder.
struct SqliteStore {
  static bool available() { return true; }
  TempDir dir;
  std::string arg() const { return dir / "study.db"; }
  std::string shown() const { return arg(); }
  std::string table(const std::string& t) const { return t; }
  // The first column of the first row of a query, as text.
  std::string query(const std::string& sql) const {
    sqlite3* db = nullptr;
    sqlite3_open(arg().c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    else if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }
  std::string heartbeat_age(int64_t trial) const {
    return query(
        "SELECT (julianday('now') - 2440587.5) * 86400.0 - heartbeat FROM trials "
        "WHERE trial_id = " +
        std::to_string(trial));
  }
  // Everything a write would change: the file's bytes.
  std::string fingerprint() const { return read_bytes(arg()); }
};

// A PostgreSQL database of its own on the test server.
struct PostgresStore {
  static bool available() { return !postgres_test_url().empty(); }
  std::unique_ptr<TempPostgresDb> db = available() ? std::make_unique<TempPostgresDb>() : nullptr;
  std::string arg() const { return db->url(); }
  // The URL as sgdlab shows it: without the password.
  std::string shown() const {
    const std::string url = arg();
    const size_t user = url.find("://") + 3, colon = url.find(':', user), at = url.find('@');
    return colon < at ? url.substr(0, colon) + url.substr(at) : url;
  }
  std::string table(const std::string& t) const { return "sgdlab." + t; }
  std::string query(const std::string& sql) const { return psql(arg(), sql); }
  std::string heartbeat_age(int64_t trial) const {
    return query(
        "SELECT extract(epoch FROM now() - heartbeat) FROM sgdlab.trials WHERE trial_id = " +
        std::to_string(trial));
  }
  std::string fingerprint() const {
    return query(
        "SELECT (SELECT count(*) FROM sgdlab.studies) || '/' || (SELECT count(*) FROM "
        "sgdlab.trials) || '/' || (SELECT string_agg(key || '=' || value, ',' ORDER BY key) "
        "FROM sgdlab.meta) || '/' || (SELECT count(*) FROM pg_tables WHERE schemaname = "
        "'sgdlab')");
  }
};

template <class Store>
class StorageEngines : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Store::available())
      GTEST_SKIP() << "SGDLAB_TEST_POSTGRES is not set (tools/test_postgres.sh sets it)";
    store_ = std::make_unique<Store>();
  }
  Store& store() { return *store_; }
  std::unique_ptr<Store> store_;
};

struct StoreNames {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, SqliteStore> ? "SQLite" : "PostgreSQL";
  }
};
using Stores = ::testing::Types<SqliteStore, PostgresStore>;
TYPED_TEST_SUITE(StorageEngines, Stores, StoreNames);

TYPED_TEST(StorageEngines, RoundTrip) {
  const std::string arg = this->store().arg();
  ParamValues p0, p1;
  {
    auto s = open_study_storage(arg);
    bool created = false;
    const int64_t id = s->open_study(info("a"), &created);
    EXPECT_TRUE(created);
    const Trial t0 = s->ask(id, random_fn(1));
    const Trial t1 = s->ask(id, random_fn(1));
    p0 = t0.params;
    p1 = t1.params;
    EXPECT_EQ(t0.number, 0);
    EXPECT_EQ(t1.number, 1);
    s->report({{t0.id, 1, 0.5}, {t0.id, 2, 0.75}, {t1.id, 1, 0.25}, {t1.id, 2, NAN}});
    s->finish(t0.id, TrialState::Complete, 0.1 + 0.2, {{"test_acc", "0.7"}, {"q\"uo\\te", "a,b"}});
    s->finish(t1.id, TrialState::Diverged, std::nullopt, {});
    s->set_study_attr(id, "phase", "coarse");
    s->set_study_attr(id, "phase", "fine");
  }
  auto s = open_study_storage(arg, OpenMode::ReadOnly);
  const auto found = s->find_study("a");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->second.space, info("a").space);
  EXPECT_EQ(found->second.seed, 7u);
  const auto trials = s->trials(found->first);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[0].params, p0);  // doubles exactly
  EXPECT_EQ(*trials[0].value, 0.1 + 0.2);
  EXPECT_EQ(trials[0].intermediate, (std::vector<double>{0.5, 0.75}));
  EXPECT_EQ(trials[0].attrs.at("test_acc"), "0.7");
  EXPECT_EQ(trials[0].attrs.at("q\"uo\\te"), "a,b");
  EXPECT_EQ(trials[0].started.size(), 20u) << trials[0].started;  // 2026-01-02T03:04:05Z
  EXPECT_EQ(trials[0].finished.size(), 20u) << trials[0].finished;
  EXPECT_EQ(trials[1].state, TrialState::Diverged);
  EXPECT_FALSE(trials[1].value.has_value());
  EXPECT_EQ(trials[1].params, p1);
  ASSERT_EQ(trials[1].intermediate.size(), 2u);
  EXPECT_TRUE(std::isnan(trials[1].intermediate[1]));
  EXPECT_EQ(*s->study_attr(found->first, "phase"), "fine");
  EXPECT_FALSE(s->study_attr(found->first, "other").has_value());
  EXPECT_EQ(s->study_names(), std::vector<std::string>{"a"});
}

TYPED_TEST(StorageEngines, ResumingWithOtherSettingsIsAnError) {
  StudyStorage s(this->store().arg());
  bool created = true;
  const int64_t id = s.open_study(info("a"));
  EXPECT_EQ(s.open_study(info("a"), &created), id);
  EXPECT_FALSE(created);
  StudyInfo other = info("a");
  other.model = "mlp";
  EXPECT_THROW(s.open_study(other), InputError);
  other = info("a");
  other.seed = 18446744073709551615ull;  // uint64 seeds are stored exactly
  EXPECT_THROW(s.open_study(other), InputError);
  other.name = "b";
  s.open_study(other);
  EXPECT_EQ(s.find_study("b")->second.seed, 18446744073709551615ull);
}

// `workers` processes that each ask and finish `each` trials of study "shared".
void ask_from_processes(const std::string& arg, int workers, int each) {
  in_processes(workers, [&](int c) {
    StudyStorage s(arg);
    const int64_t id = s.open_study(info("shared"));
    for (int i = 0; i < each; ++i) {
      const Trial t = s.ask(id, random_fn(10 + c));
      s.report({{t.id, 1, 0.25}});
      s.finish(t.id, TrialState::Complete, 0.5, {{"worker", std::to_string(c)}});
    }
  });
}

// The count: 4 workers asking 40 trials of one study get exactly 40, numbered
// 0-39, none duplicated or lost.
TYPED_TEST(StorageEngines, FourProcessesAskTenEachAndGetFortyDistinctTrials) {
  const std::string arg = this->store().arg();
  ask_from_processes(arg, 4, 10);
  StudyStorage s(arg, StorageMode::ReadOnly);
  const auto trials = s.trials(s.find_study("shared")->first);
  ASSERT_EQ(trials.size(), 40u);
  std::map<std::string, int> per_worker;
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, int(i));
    EXPECT_EQ(trials[i].state, TrialState::Complete);
    EXPECT_EQ(trials[i].intermediate, std::vector<double>{0.25});
    ++per_worker[trials[i].attrs.at("worker")];
  }
  for (int c = 0; c < 4; ++c) EXPECT_EQ(per_worker[std::to_string(c)], 10) << c;
}

// Workers that open the study for each trial and close it after: a worker's first read
// often meets another's close, when SQLite cleans up the -wal and -shm files without
// calling its busy handler. Every open must wait that out; no trial is lost.
TYPED_TEST(StorageEngines, WorkersThatOpenAndCloseForEachTrialLoseNone) {
  const std::string arg = this->store().arg();
  constexpr int kWorkers = 6, kEach = 15;
  in_processes(kWorkers, [&](int c) {
    for (int i = 0; i < kEach; ++i) {
      StudyStorage s(arg);
      const int64_t id = s.open_study(info("reopened"));
      const Trial t = s.ask(id, random_fn(100 * c + i));
      s.finish(t.id, TrialState::Complete, 0.5, {});
    }
  });
  StudyStorage s(arg, StorageMode::ReadOnly);
  const auto trials = s.trials(s.find_study("reopened")->first);
  ASSERT_EQ(trials.size(), size_t(kWorkers * kEach));
  for (size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].number, int(i));
}

// Workers that start together on a store that does not exist yet: each open meets the
// others' first statements on a new file (its switch to WAL mode, its schema). Ten rounds,
// each on a new store; every worker gets its trial.
TYPED_TEST(StorageEngines, WorkersStartingTogetherOnANewStoreAllOpenIt) {
  constexpr int kWorkers = 6;
  for (int round = 0; round < 10; ++round) {
    TypeParam store;
    const std::string arg = store.arg();
    int start[2];
    ASSERT_EQ(pipe(start), 0);
    std::vector<pid_t> children;
    for (int c = 0; c < kWorkers; ++c) {
      const pid_t pid = fork();
      if (pid == 0) {
        close(start[1]);
        char byte;
        while (read(start[0], &byte, 1) > 0) {
        }
        int code = 0;
        try {
          StudyStorage s(arg);
          const int64_t id = s.open_study(info("new"));
          s.finish(s.ask(id, random_fn(c)).id, TrialState::Complete, 0.5, {});
        } catch (const std::exception& e) {
          std::fprintf(stderr, "round %d, worker %d: %s\n", round, c, e.what());
          code = 1;
        }
        _exit(code);
      }
      children.push_back(pid);
    }
    close(start[0]);
    close(start[1]);  // all start at once
    for (pid_t pid : children) {
      int status = 0;
      waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "round " << round;
    }
    StudyStorage s(arg, StorageMode::ReadOnly);
    EXPECT_EQ(s.trials(s.find_study("new")->first).size(), size_t(kWorkers)) << "round " << round;
  }
}

// A trial budget shared by workers: ask_within stores a new trial only while the study
// holds fewer than the cap, so three workers asking as much as they can stop at 12
// trials in all, however their asks interleave.
TYPED_TEST(StorageEngines, AskWithinStopsEveryWorkerAtTheCap) {
  const std::string arg = this->store().arg();
  in_processes(3, [&](int c) {
    StudyStorage s(arg);
    const int64_t id = s.open_study(info("capped"));
    while (auto t = s.ask_within(id, random_fn(20 + c), 12))
      s.finish(t->id, TrialState::Complete, 0.5, {});
  });
  StudyStorage s(arg);
  const int64_t id = s.find_study("capped")->first;
  ASSERT_EQ(s.trials(id).size(), 12u);
  EXPECT_FALSE(s.ask_within(id, random_fn(1), 12));
  EXPECT_EQ(s.ask_within(id, random_fn(1), 13)->number, 12);
}

// Processes that create one study at once, half with other settings: one settings wins
// and the others are refused, as a later open would refuse them; one study of that name.
TYPED_TEST(StorageEngines, ConcurrentOpensOfANewStudyMakeOneAndRefuseOtherSettings) {
  const std::string arg = this->store().arg();
  { StudyStorage s(arg); }
  StudyInfo a = info("race"), b = info("race");
  b.space["lr"]["low"] = 1e-3;
  int start[2];
  ASSERT_EQ(pipe(start), 0);
  std::vector<pid_t> children;
  for (int c = 0; c < 8; ++c) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(start[1]);
      int code = 3;
      try {
        StudyStorage s(arg);
        char byte;
        while (read(start[0], &byte, 1) > 0) {
        }
        s.open_study(c % 2 ? b : a);
        code = 0;
      } catch (const InputError& e) {
        code = std::string(e.what()).find("exists with") != std::string::npos ? 2 : 3;
      } catch (...) {
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  close(start[0]);
  usleep(300000);  // the children connect, then all open at once
  close(start[1]);
  std::vector<int> codes;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  StudyStorage s(arg, StorageMode::ReadOnly);
  const bool a_won = s.find_study("race")->second.space == a.space;
  for (int c = 0; c < 8; ++c) EXPECT_EQ(codes[c], (c % 2 == 0) == a_won ? 0 : 2) << c;
  EXPECT_EQ(s.study_names(), std::vector<std::string>{"race"});
}

// A store written by a newer sgdlab is refused with one line naming its version, by the
// library and by the commands, before anything is written to it.
TYPED_TEST(StorageEngines, ANewerSchemaIsRefusedBeforeAnyWrite) {
  auto& store = this->store();
  {
    StudyStorage s(store.arg());
    s.open_study(info("a"));
  }
  store.query("UPDATE " + store.table("meta") + " SET value = '2' WHERE key = 'schema_version'");
  const std::string before = store.fingerprint();
  const std::string why = ": study schema version 2 is newer than this sgdlab's (1)";
  for (auto mode : {StorageMode::ReadWrite, StorageMode::ReadOnly}) {
    try {
      StudyStorage s(store.arg(), mode);
      ADD_FAILURE() << "opened a newer schema";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(store.shown() + why, 0), 0u) << e.what();
    }
  }
  TempDir dir;
  write_small_usps(dir / "data", 300, 50);
  for (const std::string& cmd : {"sweep --model mlp --trials 1 --epochs 1 --device cpu --data " +
                                     (dir / "data") + " --name b --study ",
                                 std::string("trials --name a --study ")}) {
    std::string out;
    EXPECT_EQ(run_command(sgdlab_binary() + " " + cmd + shell_quote(store.arg()), &out), 2) << out;
    EXPECT_EQ(out, "sgdlab: " + store.shown() + why + ": open it with a newer sgdlab\n");
  }
  EXPECT_EQ(store.fingerprint(), before);
}

// Read-only opening (trials, narrow, export) of a store with no study creates nothing.
TYPED_TEST(StorageEngines, ReadOnlyOpeningOfAnEmptyStoreCreatesNothing) {
  auto& store = this->store();
  if constexpr (std::is_same_v<TypeParam, SqliteStore>) write_bytes(store.arg(), "");
  const std::string before = std::is_same_v<TypeParam, SqliteStore>
                                 ? store.fingerprint()
                                 : store.query(
                                       "SELECT count(*) FROM pg_namespace WHERE "
                                       "nspname = 'sgdlab'");
  EXPECT_THROW(StudyStorage(store.arg(), StorageMode::ReadOnly), InputError);
  std::string out;
  EXPECT_EQ(
      run_command(sgdlab_binary() + " trials --name t --study " + shell_quote(store.arg()), &out),
      2)
      << out;
  EXPECT_EQ(out.rfind("sgdlab: " + store.shown() + ": ", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  const std::string after = std::is_same_v<TypeParam, SqliteStore>
                                ? store.fingerprint()
                                : store.query(
                                      "SELECT count(*) FROM pg_namespace WHERE "
                                      "nspname = 'sgdlab'");
  EXPECT_EQ(after, before);
}

// A held trial's heartbeat is kept fresh by the storage, whatever its worker is doing
// (a pack waiting its turn, a long epoch); once finished, it is beaten no more.
TYPED_TEST(StorageEngines, AHeldTrialKeepsBeatingUntilItIsFinished) {
  auto& store = this->store();
  StudyStorage s(store.arg(), StorageMode::ReadWrite, {0.4});  // a beat every 0.1 s
  const int64_t id = s.open_study(info("a"));
  const Trial t = s.ask(id, random_fn(1));
  usleep(1200000);
  EXPECT_LT(std::stod(store.heartbeat_age(t.id)), 0.4);
  s.finish(t.id, TrialState::Complete, 0.5, {});
  usleep(1200000);
  EXPECT_GT(std::stod(store.heartbeat_age(t.id)), 1.0);
  EXPECT_THROW(StudyStorage(store.arg(), StorageMode::ReadWrite, {0.0}), InputError);
}

// A refusal names each setting that differs, not the whole stored study (issue #22).
TYPED_TEST(StorageEngines, OtherSettingsAreNamedOneByOne) {
  StudyStorage s(this->store().arg());
  s.open_study(info("a"));
  StudyInfo other = info("a");
  other.epochs = 21;
  other.space["lr"]["low"] = 1e-3;
  try {
    s.open_study(other);
    ADD_FAILURE() << "other settings were taken";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("study 'a' exists with other settings: epochs 21 (the study has 20); "
                       "space parameter lr {"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("momentum"), std::string::npos) << "an unchanged parameter: " << msg;
  }
}

// The study's data is recorded by its first worker (or, in a study without one, by the
// next); other data is refused naming what differs; two workers recording it at once
// both see the first's (issue #22, 8).
TYPED_TEST(StorageEngines, TheDataIsRecordedOnceAndOtherDataIsRefused) {
  const nlohmann::json data = {{"format", "usps"},
                               {"files", {{"zip.train.gz", "aa"}}},
                               {"split_seed", 0},
                               {"scaling", {{"divide", 1}}}};
  nlohmann::json other = data;
  other["split_seed"] = 3;
  StudyStorage s(this->store().arg());
  const int64_t id = s.open_study(info("a"));
  EXPECT_FALSE(s.study_attr(id, "data").has_value());  // as a study of an older sgdlab
  s.check_data(id, "a", data);
  s.check_data(id, "a", data);
  try {
    s.check_data(id, "a", other);
    ADD_FAILURE() << "other data was taken";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "study 'a' was run on other data: --split-seed 3 (the study has 0)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(nlohmann::json::parse(*s.study_attr(id, "data")), data);
  const int64_t b = s.open_study(info("b"));
  in_processes(4, [&](int c) {
    StudyStorage w(this->store().arg());
    nlohmann::json mine = data;
    mine["split_seed"] = c;
    try {
      w.check_data(b, "b", mine);
    } catch (const InputError&) {
    }
  });
  const nlohmann::json first = nlohmann::json::parse(*s.study_attr(b, "data"));
  int taken = 0;
  for (int c = 0; c < 4; ++c) {
    nlohmann::json mine = data;
    mine["split_seed"] = c;
    try {
      s.check_data(b, "b", mine);
      ++taken;
      EXPECT_EQ(mine, first);
    } catch (const InputError&) {
    }
  }
  EXPECT_EQ(taken, 1);
}

// A scheme in capitals is a scheme (issue #22): POSTGRESQL:// opens the database, never a
// file path.
TYPED_TEST(StorageEngines, TheSchemeIsReadInAnyCase) {
  if (!std::is_same_v<TypeParam, PostgresStore>) GTEST_SKIP() << "a PostgreSQL URL";
  std::string url = this->store().arg();
  const size_t scheme = url.find("://");
  for (size_t i = 0; i < scheme; ++i) url[i] = char(std::toupper(url[i]));
  StudyStorage s(url);
  s.open_study(info("a"));
  EXPECT_EQ(s.path(), this->store().shown());
  EXPECT_EQ(this->store().query("SELECT count(*) FROM sgdlab.studies"), "1");
}

// A worker stopped by SIGINT or SIGTERM (issue #22) gives back what it holds: WAITING
// again under the same number, its values dropped, a retry counted; a finished trial,
// and a trial it does not hold, stay as they are. The next ask gets the same trial.
TYPED_TEST(StorageEngines, ReleasedTrialsAreWaitingAgainUnderTheirNumber) {
  StudyStorage s(this->store().arg());
  const int64_t id = s.open_study(info("a"));
  const Trial done = s.ask(id, random_fn(1));
  const Trial held = s.ask(id, random_fn(1));
  s.report({{held.id, 1, 0.5}});
  s.finish(done.id, TrialState::Complete, 0.9, {});
  EXPECT_EQ(s.release_held(), 1);
  EXPECT_EQ(s.release_held(), 0);
  const auto trials = s.trials(id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[1].state, TrialState::Waiting);
  EXPECT_TRUE(trials[1].intermediate.empty());
  EXPECT_EQ(trials[1].attrs.at("retries"), "1");
  const Trial again = s.ask(id, random_fn(2));
  EXPECT_EQ(again.number, held.number);
  EXPECT_EQ(again.params, held.params);
  s.finish(again.id, TrialState::Complete, 0.8, {});
}

}  // namespace
}  // namespace sgdlab::test
