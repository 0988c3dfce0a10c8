// The PostgreSQL engine: studies and trials in the schema "sgdlab", shared by workers on
// any number of machines. Times that decide anything (heartbeats, their age) are the
// server's now(), so that the workers' clocks do not matter.
#include <cmath>
#include <map>

#include "sgdlab/core/error.hpp"
#include "storage_postgres.hpp"

namespace sgdlab {
namespace {

using storage_detail::pg_param;
using storage_detail::PgParam;
using storage_detail::PgResult;

// The server's time as the SQLite engine writes its timestamps (UTC, ISO 8601).
const std::string kNowIso = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

std::string params_json(const ParamValues& p) {
  return nlohmann::json(p).dump();
}
ParamValues params_from(const std::string& s) {
  return nlohmann::json::parse(s).get<ParamValues>();
}

// An array literal of any element type ('{"1","2",NULL}'), read by a ::type[] cast.
std::string pg_array(const std::vector<PgParam>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    if (!item) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *item) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

template <class T>
std::string pg_array_of(const std::vector<T>& items) {
  std::vector<PgParam> params;
  for (const auto& i : items) params.push_back(pg_param(i));
  return pg_array(params);
}

}  // namespace

std::optional<std::pair<int64_t, StudyInfo>> PostgresEngine::find_study(const std::string& name) {
  return retrying([&]() -> std::optional<std::pair<int64_t, StudyInfo>> {
    const PgResult q = conn_.exec(
        "SELECT study_id, model, sampler, seed::text, epochs, space FROM sgdlab.studies "
        "WHERE name = $1",
        name);
    if (!q.rows()) return std::nullopt;
    StudyInfo info{name,
                   q.text_at(0, 1),
                   q.text_at(0, 2),
                   std::strtoull(q.text_at(0, 3).c_str(), nullptr, 10),
                   int(q.int_at(0, 4)),
                   nlohmann::json::parse(q.text_at(0, 5))};
    return std::make_pair(q.int_at(0, 0), info);
  });
}

std::vector<std::string> PostgresEngine::study_names() {
  return retrying([&] {
    const PgResult q = conn_.exec("SELECT name FROM sgdlab.studies ORDER BY study_id");
    std::vector<std::string> out;
    for (int r = 0; r < q.rows(); ++r) out.push_back(q.text_at(r, 0));
    return out;
  });
}

std::pair<int64_t, StudyInfo> PostgresEngine::open_study(const StudyInfo& info, bool* created) {
  retrying([&] {
    // Two workers creating the same name at once: the later insert waits for the
    // earlier one's commit, then does nothing, and both read the one study below.
    const PgResult r = conn_.exec(
        "INSERT INTO sgdlab.studies(name, model, sampler, seed, epochs, space, created) "
        "VALUES($1, $2, $3, $4::numeric, $5, $6, " +
            kNowIso + ") ON CONFLICT (name) DO NOTHING RETURNING study_id",
        info.name, info.model, info.sampler, std::to_string(info.seed), info.epochs,
        info.space.dump());
    *created = r.rows() > 0;
  });
  const auto found = find_study(info.name);
  SGDLAB_CHECK(found.has_value(), "study '", info.name, "' stored in ", conn_.shown());
  return *found;
}

std::vector<Trial> PostgresEngine::trials(int64_t study) {
  // One snapshot for the three reads: a trial asked meanwhile is in all of them or none.
  return retrying([&] {
    return transaction([&] { return load_trials(study); }, "BEGIN ISOLATION LEVEL REPEATABLE READ");
  });
}

std::vector<Trial> PostgresEngine::load_trials(int64_t study) {
  std::vector<Trial> out;
  std::map<int64_t, size_t> index;
  const PgResult q = conn_.exec(
      "SELECT trial_id, number, state, params, value, COALESCE(started, ''), "
      "COALESCE(finished, '') FROM sgdlab.trials WHERE study_id = $1 ORDER BY number",
      study);
  for (int r = 0; r < q.rows(); ++r) {
    Trial t;
    t.id = q.int_at(r, 0);
    t.number = int(q.int_at(r, 1));
    t.state = trial_state_from(q.text_at(r, 2));
    t.params = params_from(q.text_at(r, 3));
    if (!q.null_at(r, 4)) t.value = q.real_at(r, 4);
    t.started = q.text_at(r, 5);
    t.finished = q.text_at(r, 6);
    index[t.id] = out.size();
    out.push_back(std::move(t));
  }
  const PgResult v = conn_.exec(
      "SELECT v.trial_id, v.value FROM sgdlab.trial_values v JOIN sgdlab.trials t "
      "USING(trial_id) WHERE t.study_id = $1 ORDER BY v.trial_id, v.epoch",
      study);
  for (int r = 0; r < v.rows(); ++r)
    if (auto it = index.find(v.int_at(r, 0)); it != index.end())
      out[it->second].intermediate.push_back(v.null_at(r, 1) ? NAN : v.real_at(r, 1));
  const PgResult a = conn_.exec(
      "SELECT a.trial_id, a.key, a.value FROM sgdlab.trial_attrs a JOIN sgdlab.trials t "
      "USING(trial_id) WHERE t.study_id = $1",
      study);
  for (int r = 0; r < a.rows(); ++r)
    if (auto it = index.find(a.int_at(r, 0)); it != index.end())
      out[it->second].attrs[a.text_at(r, 1)] = a.text_at(r, 2);
  return out;
}

// Every change of which trial is RUNNING where (ask, recovery) holds this lock of the
// study, as SQLite's BEGIN IMMEDIATE does: see ask().
void PostgresEngine::lock_study(int64_t study) {
  conn_.exec("SELECT pg_advisory_xact_lock($1::int, ($2::bigint % 2147483647)::int)", kLockClass,
             study);
}

int PostgresEngine::recover_stale(int64_t study, double grace_seconds) {
  const std::string me = StudyStorage::worker_id();
  return retrying([&] {
    return transaction([&] {
      lock_study(study);
      // The trial keeps its number, hence its seed: the retry trains exactly what the
      // lost worker was training. This process's own trials are never stale to it.
      const PgResult r = conn_.exec(
          "WITH stale AS (UPDATE sgdlab.trials SET state = 'WAITING', started = NULL, "
          "worker = NULL, heartbeat = NULL WHERE study_id = $1 AND state = 'RUNNING' AND "
          "worker IS DISTINCT FROM $3 AND (heartbeat IS NULL OR heartbeat < now() - "
          "make_interval(secs => $2::double precision)) RETURNING trial_id), "
          "dropped AS (DELETE FROM sgdlab.trial_values WHERE trial_id IN (SELECT trial_id "
          "FROM stale)), "
          "counted AS (INSERT INTO sgdlab.trial_attrs(trial_id, key, value) SELECT trial_id, "
          "'retries', '1' FROM stale ON CONFLICT (trial_id, key) DO UPDATE SET value = "
          "CASE WHEN sgdlab.trial_attrs.value ~ '^[0-9]{1,9}$' THEN "
          "(sgdlab.trial_attrs.value::int + 1)::text ELSE '1' END) "
          "SELECT count(*) FROM stale",
          study, grace_seconds, me);
      return int(r.int_at(0, 0));
    });
  });
}

int PostgresEngine::requeue(const std::vector<int64_t>& trial_ids, const std::string& worker) {
  return retrying([&] {
    return transaction([&] {
      int queued = 0;
      for (int64_t id : trial_ids) {
        const PgResult r = conn_.exec(
            "WITH mine AS (UPDATE sgdlab.trials SET state = 'WAITING', started = NULL, "
            "worker = NULL, heartbeat = NULL WHERE trial_id = $1 AND state = 'RUNNING' AND "
            "worker = $2 RETURNING trial_id), "
            "dropped AS (DELETE FROM sgdlab.trial_values WHERE trial_id IN (SELECT trial_id "
            "FROM mine)), "
            "counted AS (INSERT INTO sgdlab.trial_attrs(trial_id, key, value) SELECT trial_id, "
            "'retries', '1' FROM mine ON CONFLICT (trial_id, key) DO UPDATE SET value = "
            "CASE WHEN sgdlab.trial_attrs.value ~ '^[0-9]{1,9}$' THEN "
            "(sgdlab.trial_attrs.value::int + 1)::text ELSE '1' END) "
            "SELECT count(*) FROM mine",
            id, worker);
        queued += int(r.int_at(0, 0));
      }
      return queued;
    });
  });
}

// The oldest WAITING trial, else a new number sampled with the whole history, under the
// study's advisory lock: askers of one study go one at a time, so that each sampler sees
// every trial asked before it (the constant liar counts the RUNNING ones) and max+1 is
// never taken twice. Row locks (FOR UPDATE SKIP LOCKED) would let two askers run
// together, but only for WAITING trials: new numbers and their history need the whole
// study to stand still. An ask takes milliseconds against minutes of training.
std::optional<Trial> PostgresEngine::ask(int64_t study, const StudyStorage::SampleFn& sample,
                                         const std::string& worker, int max_stored) {
  return retrying([&] {
    return transaction([&] {
      lock_study(study);
      std::optional<Trial> none;
      Trial t;
      const PgResult w = conn_.exec(
          "SELECT trial_id, number, params FROM sgdlab.trials WHERE study_id = $1 AND "
          "state = 'WAITING' ORDER BY number LIMIT 1",
          study);
      if (w.rows()) {
        t.id = w.int_at(0, 0);
        t.number = int(w.int_at(0, 1));
        t.params = params_from(w.text_at(0, 2));
      } else {
        const std::vector<Trial> history = load_trials(study);
        if (int(history.size()) >= max_stored) return none;
        t.number = history.empty() ? 0 : history.back().number + 1;
        t.params = sample(history, t.number);
        t.id = conn_
                   .exec(
                       "INSERT INTO sgdlab.trials(study_id, number, state, params) "
                       "VALUES($1, $2, 'WAITING', $3) RETURNING trial_id",
                       study, t.number, params_json(t.params))
                   .int_at(0, 0);
      }
      t.state = TrialState::Running;
      t.started = conn_
                      .exec("UPDATE sgdlab.trials SET state = 'RUNNING', started = " + kNowIso +
                                ", worker = $2, heartbeat = now() WHERE trial_id = $1 "
                                "RETURNING started",
                            t.id, worker)
                      .text_at(0, 0);
      return std::optional<Trial>(t);
    });
  });
}

// Values and heartbeats count only while the trial is still this worker's: one that was
// recovered after its heartbeat went stale (a worker cut off for the whole grace
// period) belongs to whoever asks it next.
void PostgresEngine::report(const TrialValues& values, const std::string& worker) {
  if (values.empty()) return;
  std::vector<int64_t> ids;
  std::vector<int> epochs;
  std::vector<PgParam> numbers;
  for (const auto& [id, epoch, value] : values) {
    ids.push_back(id);
    epochs.push_back(epoch);
    numbers.push_back(std::isfinite(value) ? pg_param(value) : std::nullopt);
  }
  retrying([&] {
    transaction([&] {
      conn_.exec(
          "INSERT INTO sgdlab.trial_values(trial_id, epoch, value) SELECT v.id, v.epoch, "
          "v.value FROM unnest($1::bigint[], $2::int[], $3::float8[]) AS v(id, epoch, value) "
          "JOIN sgdlab.trials t ON t.trial_id = v.id AND t.state = 'RUNNING' AND t.worker = $4 "
          "ON CONFLICT (trial_id, epoch) DO UPDATE SET value = EXCLUDED.value",
          pg_array_of(ids), pg_array_of(epochs), pg_array(numbers), worker);
      conn_.exec(
          "UPDATE sgdlab.trials SET heartbeat = now() WHERE trial_id = ANY($1::bigint[]) AND "
          "state = 'RUNNING' AND worker = $2",
          pg_array_of(ids), worker);
    });
  });
}

void PostgresEngine::finish(int64_t trial_id, TrialState state, std::optional<double> value,
                            const std::map<std::string, std::string>& attrs,
                            const std::string& worker) {
  const PgParam stored = value && std::isfinite(*value) ? pg_param(*value) : std::nullopt;
  std::vector<std::string> keys, texts;
  for (const auto& [k, v] : attrs) {
    keys.push_back(k);
    texts.push_back(v);
  }
  retrying([&] {
    transaction([&] {
      const PgResult r =
          conn_.exec("UPDATE sgdlab.trials SET state = $2, value = $3, finished = " + kNowIso +
                         " WHERE trial_id = $1 AND state = 'RUNNING' AND "
                         "worker = $4 RETURNING trial_id",
                     trial_id, std::string(to_string(state)), stored, worker);
      // Recovered meanwhile (see report()), or finished already by an attempt whose
      // commit was lost with the connection: nothing more to store.
      if (!r.rows() || keys.empty()) return;
      conn_.exec(
          "INSERT INTO sgdlab.trial_attrs(trial_id, key, value) SELECT $1, a.key, a.value "
          "FROM unnest($2::text[], $3::text[]) AS a(key, value) "
          "ON CONFLICT (trial_id, key) DO UPDATE SET value = EXCLUDED.value",
          trial_id, pg_array_of(keys), pg_array_of(texts));
    });
  });
}

void PostgresEngine::heartbeat(const std::vector<int64_t>& ids, const std::string& worker) {
  if (ids.empty()) return;
  retrying([&] {
    conn_.exec(
        "UPDATE sgdlab.trials SET heartbeat = now() WHERE trial_id = ANY($1::bigint[]) AND "
        "state = 'RUNNING' AND worker = $2",
        pg_array_of(ids), worker);
  });
}

void PostgresEngine::set_study_attr(int64_t study, const std::string& key,
                                    const std::string& value) {
  retrying([&] {
    conn_.exec(
        "INSERT INTO sgdlab.study_attrs(study_id, key, value) VALUES($1, $2, $3) "
        "ON CONFLICT (study_id, key) DO UPDATE SET value = EXCLUDED.value",
        study, key, value);
  });
}

std::string PostgresEngine::claim_study_attr(int64_t study, const std::string& key,
                                             const std::string& value) {
  retrying([&] {
    conn_.exec(
        "INSERT INTO sgdlab.study_attrs(study_id, key, value) VALUES($1, $2, $3) "
        "ON CONFLICT (study_id, key) DO NOTHING",
        study, key, value);
  });
  return study_attr(study, key).value_or("");
}

std::optional<std::string> PostgresEngine::study_attr(int64_t study, const std::string& key) {
  return retrying([&]() -> std::optional<std::string> {
    const PgResult q = conn_.exec(
        "SELECT value FROM sgdlab.study_attrs WHERE study_id = $1 AND key = $2", study, key);
    if (!q.rows()) return std::nullopt;
    return q.text_at(0, 0);
  });
}

}  // namespace sgdlab
