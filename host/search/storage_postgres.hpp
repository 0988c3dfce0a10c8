#pragma once
// The PostgreSQL engine of the study storage, for workers on many machines
// (storage_postgres.cpp: studies and trials; storage_postgres_open.cpp: connecting,
// the schema and its version). Its tables live in the schema "sgdlab" of the database,
// so that they stay clear of anything else there (Optuna's own tables are also called
// studies and trials). Private to host/search.
#include <string>
#include <type_traits>

#include "postgres.hpp"
#include "sgdlab/core/error.hpp"
#include "storage_engine.hpp"

namespace sgdlab {

class PostgresEngine final : public StorageEngine {
 public:
  PostgresEngine(const std::string& url, const std::string& shown, StorageMode mode);

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

  // How long an operation waits for a server that went away to come back.
  static constexpr double kReconnectSeconds = 60;
  // The first key of sgdlab's advisory locks ("SGD1"), so that they cannot collide with
  // another application's on the same database; the second is the study (0: the schema).
  static constexpr int kLockClass = 0x53474431;

 private:
  // Runs `body` (which opens and commits its own transaction, if any) again after a
  // lost connection (reconnecting first) or a transaction the server aborted.
  template <class F>
  auto retrying(F&& body) -> decltype(body());
  // BEGIN, body, COMMIT; ROLLBACK when body throws.
  template <class F>
  auto transaction(F&& body, const char* begin = "BEGIN") -> decltype(body());
  // The study's advisory lock, held until the caller's transaction ends.
  void lock_study(int64_t study);
  // The trials of a study, read in the caller's transaction.
  std::vector<Trial> load_trials(int64_t study);
  // Checks the schema version, creating the schema in an empty database (ReadWrite).
  void check_or_create_schema(bool read_only);

  storage_detail::PgConnection conn_;
};

template <class F>
auto PostgresEngine::retrying(F&& body) -> decltype(body()) {
  for (int aborted = 0;;) {
    try {
      return body();
    } catch (const storage_detail::ConnectionLost& e) {
      conn_.reconnect(kReconnectSeconds, e.what());
    } catch (const storage_detail::TransactionAborted& e) {
      // A deadlock between a recovery and a heartbeat of the same trials, say: the
      // server aborted one side, which simply goes again.
      if (++aborted >= 20) SGDLAB_THROW("PostgreSQL: ", e.what(), " (", aborted, " times)");
    }
  }
}

template <class F>
auto PostgresEngine::transaction(F&& body, const char* begin) -> decltype(body()) {
  conn_.exec(begin);
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      conn_.exec("COMMIT");
    } else {
      auto result = body();
      conn_.exec("COMMIT");
      return result;
    }
  } catch (...) {
    conn_.rollback_quietly();
    throw;
  }
}

}  // namespace sgdlab
