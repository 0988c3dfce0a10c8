// Opening a PostgreSQL study database: the schema "sgdlab" made on first use, under a
// lock so that workers starting together make it once; its version checked before
// anything is written, so that an older sgdlab never writes into a newer schema.
// ReadOnly sessions are read-only on the server too.
#include <cstdlib>
#include <memory>

#include "sgdlab/core/error.hpp"
#include "storage_postgres.hpp"

namespace sgdlab {
namespace {

using storage_detail::PgResult;

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE SCHEMA IF NOT EXISTS sgdlab;
CREATE TABLE sgdlab.meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sgdlab.studies(
  study_id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  sampler TEXT NOT NULL,
  seed NUMERIC(20, 0) NOT NULL,
  epochs INTEGER NOT NULL,
  space TEXT NOT NULL,
  direction TEXT NOT NULL DEFAULT 'maximize',
  created TEXT NOT NULL);
CREATE TABLE sgdlab.trials(
  trial_id BIGSERIAL PRIMARY KEY,
  study_id BIGINT NOT NULL REFERENCES sgdlab.studies(study_id),
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  params TEXT NOT NULL,
  value DOUBLE PRECISION,
  started TEXT,
  finished TEXT,
  worker TEXT,
  heartbeat TIMESTAMPTZ,
  UNIQUE(study_id, number));
CREATE INDEX trials_by_state ON sgdlab.trials(study_id, state, number);
CREATE TABLE sgdlab.trial_values(
  trial_id BIGINT NOT NULL REFERENCES sgdlab.trials(trial_id),
  epoch INTEGER NOT NULL,
  value DOUBLE PRECISION,
  PRIMARY KEY(trial_id, epoch));
CREATE TABLE sgdlab.trial_attrs(
  trial_id BIGINT NOT NULL REFERENCES sgdlab.trials(trial_id),
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(trial_id, key));
CREATE TABLE sgdlab.study_attrs(
  study_id BIGINT NOT NULL REFERENCES sgdlab.studies(study_id),
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY(study_id, key));
)sql";

}  // namespace

std::unique_ptr<StorageEngine> open_postgres_engine(const std::string& url,
                                                    const std::string& shown, StorageMode mode) {
  return std::make_unique<PostgresEngine>(url, shown, mode);
}

PostgresEngine::PostgresEngine(const std::string& url, const std::string& shown, StorageMode mode)
    : conn_(url, shown) {
  const bool read_only = mode == StorageMode::ReadOnly;
  // trials, narrow and export cannot write even by mistake: the server refuses it.
  if (read_only) conn_.set_session("SET default_transaction_read_only = on");
  check_or_create_schema(read_only);
}

namespace {

// Refuses a schema that is not this sgdlab's: newer (refused before anything is
// written, so that an older binary never writes into it), older, or not a study's.
void check_version(storage_detail::PgConnection& conn) {
  const std::string& shown = conn.shown();
  const PgResult v = conn.exec("SELECT value FROM sgdlab.meta WHERE key = 'schema_version'");
  const std::string version = v.rows() ? v.text_at(0, 0) : "";
  if (version.empty())
    SGDLAB_INPUT_ERROR(shown, ": not a sgdlab study database (it has no schema version)");
  if (std::atoll(version.c_str()) > kSchemaVersion)
    SGDLAB_INPUT_ERROR(shown, ": study schema version ", version, " is newer than this sgdlab's (",
                       kSchemaVersion, "): open it with a newer sgdlab");
  if (version != std::to_string(kSchemaVersion))
    SGDLAB_INPUT_ERROR(shown, ": not a sgdlab study database (schema ", version,
                       ", this sgdlab reads schema ", kSchemaVersion, ")");
}

}  // namespace

void PostgresEngine::check_or_create_schema(bool read_only) {
  const std::string& shown = conn_.shown();
  retrying([&] {
    transaction([&] {
      // Workers that start together on an empty database wait here for the first one
      // to make the schema (CREATE ... IF NOT EXISTS alone races in the catalogs).
      if (!read_only) conn_.exec("SELECT pg_advisory_xact_lock($1::int, 0)", kLockClass);
      const PgResult r = conn_.exec(
          "SELECT to_regclass('sgdlab.meta') IS NOT NULL, "
          "EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = 'sgdlab')");
      if (r.text_at(0, 0) == "t") return check_version(conn_);
      if (r.text_at(0, 1) == "t")
        SGDLAB_INPUT_ERROR(shown,
                           ": not a sgdlab study database (its schema 'sgdlab' has no table "
                           "'meta')");
      if (read_only)
        SGDLAB_INPUT_ERROR(shown, ": no sgdlab study database here (no schema 'sgdlab')");
      conn_.exec_script(kSchema);
      conn_.exec("INSERT INTO sgdlab.meta(key, value) VALUES('schema_version', $1)",
                 std::to_string(kSchemaVersion));
    });
  });
}

}  // namespace sgdlab
